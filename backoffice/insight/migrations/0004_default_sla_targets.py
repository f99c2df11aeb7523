"""Starting SLA targets (edit them in the admin; every change is journaled)."""

from django.db import migrations

DEFAULTS = [
    # case type, first response (minutes), handle time (minutes)
    ("dispute", 4 * 60, 5 * 24 * 60),
    ("refund", 2 * 60, 24 * 60),
    ("extension", 8 * 60, 2 * 24 * 60),
]


def forwards(apps, schema_editor):
    SlaTarget = apps.get_model("insight", "SlaTarget")
    for case_type, first_response, handle in DEFAULTS:
        SlaTarget.objects.get_or_create(case_type=case_type, defaults={
            "first_response_minutes": first_response, "handle_minutes": handle})


def backwards(apps, schema_editor):
    apps.get_model("insight", "SlaTarget").objects.filter(case_type__in=[c for c, *_ in DEFAULTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("insight", "0003_anomaly_schedule")]
    operations = [migrations.RunPython(forwards, backwards)]
