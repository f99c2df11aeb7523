from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "reconciliation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The break case type for the queue/page/API framework; the settlement-report handlers for the webhook intake.
        from . import registry, webhooks  # noqa: F401
