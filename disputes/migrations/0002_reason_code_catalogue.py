"""Seed the reason-code catalogue (Visa, Mastercard, Amex, Discover, JCB and the PSPs' generic reasons)."""

from django.db import migrations

from disputes.catalogue import catalogue_sync


def forwards(apps, schema_editor):
    catalogue_sync(apps.get_model("disputes", "ReasonCode"))


class Migration(migrations.Migration):
    dependencies = [("disputes", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
