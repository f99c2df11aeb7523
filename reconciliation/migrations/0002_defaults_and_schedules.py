"""Default write-off limits and the reconciliation schedules (django-celery-beat; editable in the admin)."""

from django.db import migrations

from reconciliation.defaults import SCHEDULES, install_defaults, install_schedules


def forwards(apps, schema_editor):
    install_defaults(apps.get_model("reconciliation", "WriteOffLimit"))
    install_schedules(apps.get_model("django_celery_beat", "IntervalSchedule"),
                      apps.get_model("django_celery_beat", "PeriodicTask"))


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=[name for name, _ in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("reconciliation", "0001_initial"),
                    ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(forwards, backwards)]
