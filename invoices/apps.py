from django.apps import AppConfig


class InvoicesConfig(AppConfig):
    name = "invoices"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import registry  # noqa: F401  (registers the extension case type)
