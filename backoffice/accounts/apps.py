from django.apps import AppConfig


class Config(AppConfig):
    name = "backoffice.accounts"
    label = "accounts"
    verbose_name = "Accounts and sign-in"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import signals  # noqa: F401 - connects the login/logout receivers
