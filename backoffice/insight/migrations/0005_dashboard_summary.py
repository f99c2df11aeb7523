"""The dashboard's summary table and the schedule that refreshes it (every 5 minutes; edit freely
in the admin afterwards, like the other schedules of ``backoffice.scheduling.DEFAULT_SCHEDULES``)."""

from django.db import migrations, models

TASK = "insight.refresh_dashboard"


def forwards(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=TASK, defaults={"task": TASK, "interval": interval, "enabled": True,
                             "description": "Created by migration insight.0005; edit freely. Computes the "
                                            "dashboard's default view into DashboardSummary."})


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [("insight", "0004_default_sla_targets"), ("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [
        migrations.CreateModel(
            name="DashboardSummary",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key", models.CharField(help_text="since:until:currency:time zone", max_length=160, unique=True)),
                ("figures", models.JSONField(help_text="kpis.dashboard_figures, as JSON (dates as ISO strings).")),
                ("generated_at", models.DateTimeField()),
                ("seconds", models.FloatField(default=0, help_text="How long computing the figures took.")),
            ],
            options={"verbose_name_plural": "dashboard summaries"},
        ),
        migrations.RunPython(forwards, backwards),
    ]
