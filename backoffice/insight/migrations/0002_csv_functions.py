"""The PostgreSQL function the audit CSV export runs inside COPY, so cells leave the database safe.

backoffice_csv_cell(text): a cell starting with = + - @ tab CR or ' gets a leading apostrophe, so a
spreadsheet shows it as text (strip exactly one leading apostrophe to get the stored value back).
It is a plain SQL expression the planner inlines.
SQLite (the demo) has neither: the export formats the same cells in Python there.
"""

from django.db import migrations

CREATE = [
    """
    CREATE OR REPLACE FUNCTION backoffice_csv_cell(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CASE WHEN left(value, 1) IN ('=', '+', '-', '@', E'\\t', E'\\r', '''') THEN '''' || value
                    ELSE value END
    $$
    """,
]
DROP = [
    "DROP FUNCTION IF EXISTS backoffice_csv_cell(text)",
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in CREATE:
        schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in DROP:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("insight", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
