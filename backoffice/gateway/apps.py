from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "backoffice.gateway"
    label = "gateway"
    verbose_name = "Payment gateway"
    default_auto_field = "django.db.models.BigAutoField"
