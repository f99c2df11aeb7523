from django.apps import AppConfig


class RefundsConfig(AppConfig):
    name = "refunds"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The case type for the queue/page framework; the PSP refund event handlers for the webhook intake.
        from . import registry, webhooks  # noqa: F401
