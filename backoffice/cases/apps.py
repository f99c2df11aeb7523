from django.apps import AppConfig


class Config(AppConfig):
    name = "backoffice.cases"
    label = "cases"
    default_auto_field = "django.db.models.BigAutoField"
