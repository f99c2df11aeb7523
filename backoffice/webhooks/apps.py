from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "backoffice.webhooks"
    label = "webhooks"
    verbose_name = "PSP webhooks"
    default_auto_field = "django.db.models.BigAutoField"
