"""The periodic tasks, scheduled with django-celery-beat (editable in the admin afterwards)."""

from django.db import migrations

SCHEDULES = [
    # task name, every N minutes
    ("disputes.send_deadline_reminders", 5),
    ("disputes.escalate_overdue", 5),
    ("disputes.expire_past_due", 5),
    ("invoices.check_extensions", 15),
    ("refunds.sweep_processing", 5),
    ("notifications.resend_unsent_alerts", 10),
]


def forwards(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for task, minutes in SCHEDULES:
        interval, _ = IntervalSchedule.objects.get_or_create(every=minutes, period="minutes")
        PeriodicTask.objects.get_or_create(
            name=task, defaults={"task": task, "interval": interval, "enabled": True,
                                 "description": "Created by migration notifications.0002; edit freely."}
        )


def backwards(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, _ in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_initial"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(forwards, backwards)]
