"""Schedule ``disputes.resend_stalled_evidence`` (evidence that never reached its PSP is sent again)."""

from django.db import migrations

TASK, MINUTES = "disputes.resend_stalled_evidence", 15


def forwards(apps, schema_editor):
    from django.utils import timezone

    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    TaskRunStatus = apps.get_model("notifications", "TaskRunStatus")
    interval, _ = IntervalSchedule.objects.get_or_create(every=MINUTES, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=TASK, defaults={"task": TASK, "interval": interval, "enabled": True,
                             "description": "Created by migration notifications.0004; edit freely."})
    TaskRunStatus.objects.get_or_create(task=TASK, defaults={"scheduled_since": timezone.now()})


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [("notifications", "0003_outbox_task_status")]
    operations = [migrations.RunPython(forwards, backwards)]
