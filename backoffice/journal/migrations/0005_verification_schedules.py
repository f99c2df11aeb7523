"""The journal's verification schedules (django-celery-beat; editable in the admin afterwards)."""

from django.db import migrations

SCHEDULES = [
    # task name, every, period
    ("journal.verify_incremental", 10, "minutes"),
    ("journal.verify_full", 1, "days"),
]


def forwards(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for task, every, period in SCHEDULES:
        interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
        PeriodicTask.objects.get_or_create(
            name=task, defaults={"task": task, "interval": interval, "enabled": True,
                                 "description": "Created by migration journal.0005; edit freely."}
        )


def backwards(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, _, _ in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("journal", "0004_keyed_chain_checkpoints"),
                    ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(forwards, backwards)]
