from django.apps import AppConfig


class InsightConfig(AppConfig):
    """The team lead's dashboard, the auditor's workspace and operations telemetry."""

    name = "backoffice.insight"
    label = "insight"
    verbose_name = "Insight: dashboard, audit, telemetry"

    def ready(self) -> None:
        from . import logs, signals  # noqa: F401  (log context and task run counters)
        from .registry import autodiscover

        autodiscover()
