"""Default write-off limits and the report-folder schedule, installed by migration reconciliation.0002.

Kept in one place so tests whose database was flushed (transactional tests) can reinstall them.
"""

# Write-off limits in minor units: specialists about 25 USD, team leads about 1,000 USD.
WRITE_OFF_LIMITS = {
    "billing_specialist": {"USD": 2_500, "EUR": 2_500, "GBP": 2_000, "KZT": 1_250_000, "AZN": 4_250,
                           "UZS": 30_000_000},
    "team_lead": {"USD": 100_000, "EUR": 100_000, "GBP": 80_000, "KZT": 50_000_000, "AZN": 170_000,
                  "UZS": 1_250_000_000},
}
SCHEDULES = (("reconciliation.import_folder", 15), ("reconciliation.send_break_reminders", 60))


def install_defaults(WriteOffLimit) -> None:  # noqa: N803 - a model class
    """Create what is missing; never overwrite a limit someone changed."""
    for role, limits in WRITE_OFF_LIMITS.items():
        for currency, limit in limits.items():
            WriteOffLimit.objects.get_or_create(role=role, currency=currency, defaults={"limit_minor": limit})


def install_schedules(IntervalSchedule, PeriodicTask) -> None:  # noqa: N803 - model classes
    for task, minutes in SCHEDULES:
        interval, _ = IntervalSchedule.objects.get_or_create(every=minutes, period="minutes")
        PeriodicTask.objects.get_or_create(
            name=task, defaults={"task": task, "interval": interval, "enabled": True,
                                 "description": "Created by migration reconciliation.0002; edit freely."})
