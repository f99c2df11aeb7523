from django.apps import AppConfig


class Config(AppConfig):
    name = "backoffice.roles"
    label = "roles"
    default_auto_field = "django.db.models.BigAutoField"
