"""The daily anomaly check, scheduled with django-celery-beat (editable in the admin afterwards)."""

from django.db import migrations

TASK = "insight.detect_anomalies"


def forwards(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = IntervalSchedule.objects.get_or_create(every=1, period="days")
    PeriodicTask.objects.get_or_create(
        name=TASK, defaults={"task": TASK, "interval": interval, "enabled": True,
                             "description": "Created by migration insight.0003; edit freely. Compares today so far "
                                            "with the same hours of the last 28 days."})


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [("insight", "0002_csv_functions"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(forwards, backwards)]
