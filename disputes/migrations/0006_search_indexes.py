"""The search box finds a dispute by the beginning of its PSP id (``dp_1N…``): a pattern index, PostgreSQL only."""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS dispute_psp_dispute_id_prefix "
                              "ON disputes_dispute (psp_dispute_id varchar_pattern_ops)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS dispute_psp_dispute_id_prefix")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("disputes", "0005_dispute_report_import")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
