"""Repair dispute deadlines that a bad value already broke.

Before ``backoffice.parsing`` bounded date-times, ``open_chargeback`` / ``reopen`` with a ``due_at``
of ``9999-12-31T23:59:59-12:00`` stored 10000-01-01 in UTC: PostgreSQL keeps it, Python cannot read it
back, and every page, list, export and API answer containing that dispute failed. This clamps
``due_at`` and ``internal_due_at`` into the window the parsers accept (2000-01-01 … 2099-12-31 23:59:59
UTC), which keeps ``internal_due_at <= due_at``. The journal is append-only and is not touched (its
rows keep what was asked, as text); each repaired dispute is named in a log line instead.

Safe on an empty database, on SQLite (the demo) and on PostgreSQL; running it again changes nothing.
"""

import logging
from datetime import UTC, datetime

from django.db import migrations

logger = logging.getLogger("disputes.migrations")

LOW = datetime(2000, 1, 1, tzinfo=UTC)
HIGH = datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)
COLUMNS = ("due_at", "internal_due_at")


def _clamped(column: str, qn) -> str:
    col = qn(column)
    return f"CASE WHEN {col} IS NULL THEN NULL ELSE LEAST(GREATEST({col}, %(low)s), %(high)s) END"


def _repair_postgresql(connection, table: str) -> list[tuple]:
    qn = connection.ops.quote_name
    outside = " OR ".join(f"{qn(c)} < %(low)s OR {qn(c)} > %(high)s" for c in COLUMNS)
    sets = ", ".join(f"{qn(c)} = {_clamped(c, qn)}" for c in COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {qn(table)} SET {sets} WHERE {outside} RETURNING id, reference",
                       {"low": LOW, "high": HIGH})
        return cursor.fetchall()


def _sqlite_text(value: datetime) -> str:
    return value.replace(tzinfo=None).isoformat(sep=" ")


def _clamp_text(text: str | None) -> str | None:
    """SQLite keeps date-times as text: a five-digit year sorts before "2000", so compare by the year first."""
    if text is None:
        return None
    year = text.split("-", 1)[0]
    if len(year) > 4 or text > _sqlite_text(HIGH):
        return _sqlite_text(HIGH)
    if len(year) < 4 or text < _sqlite_text(LOW):
        return _sqlite_text(LOW)
    return text


def _repair_rowwise(connection, table: str) -> list[tuple]:
    qn = connection.ops.quote_name
    repaired = []
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, reference, CAST({qn('due_at')} AS TEXT), CAST({qn('internal_due_at')} AS TEXT) "
                       f"FROM {qn(table)}")
        for pk, reference, due, internal in cursor.fetchall():
            fixed = (_clamp_text(due), _clamp_text(internal))
            if fixed != (due, internal):
                cursor.execute(f"UPDATE {qn(table)} SET {qn('due_at')} = %s, {qn('internal_due_at')} = %s "
                               "WHERE id = %s", [*fixed, pk])
                repaired.append((pk, reference))
    return repaired


def repair(apps, schema_editor):
    connection = schema_editor.connection
    table = apps.get_model("disputes", "Dispute")._meta.db_table
    if connection.vendor == "postgresql":
        repaired = _repair_postgresql(connection, table)
    else:
        repaired = _repair_rowwise(connection, table)
    for pk, reference in repaired:
        logger.warning("Dispute %s (id %s): due_at / internal_due_at were outside 2000-2100 UTC (unreadable); "
                       "clamped into the window. Check the deadline with the PSP.", reference, pk)


class Migration(migrations.Migration):

    dependencies = [
        ("disputes", "0007_cover_letters_and_acceptance_proposals"),
    ]

    operations = [
        migrations.RunPython(repair, migrations.RunPython.noop, elidable=True),
    ]
