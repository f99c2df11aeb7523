"""The daily schedule that makes the journal's partitions ahead of time (``journal.create_partitions``;
also in ``backoffice.scheduling.DEFAULT_SCHEDULES``; editable in the admin afterwards)."""

from django.db import migrations

TASK = "journal.create_partitions"


def forwards(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = IntervalSchedule.objects.get_or_create(every=24 * 60, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=TASK, defaults={"task": TASK, "interval": interval, "enabled": True,
                             "description": "Created by migration journal.0007; edit freely. Makes the journal's "
                                            "partitions for this month and the next three."})


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [("journal", "0006_partitioned_journal"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(forwards, backwards)]
