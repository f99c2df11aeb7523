"""The journal's monthly partitions (PostgreSQL; migration ``journal.0006`` made the table partitioned).

Rows go to the partition of their ``created_at`` month (UTC), or to ``journal_journalentry_default``
when that month has none, so an insert never fails. ``journal_create_partitions`` makes the current
month's partition and the next ``months_ahead`` ones, and one for every month that has rows in DEFAULT,
moving those rows there unchanged (same ids, same hashes). It runs the database function
``backoffice_journal_create_partitions``, which belongs to the owner (SECURITY DEFINER): the app's
role owns nothing and may only EXECUTE it. Task ``journal.create_partitions`` (daily) and
``manage.py migrate`` call it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, connections, transaction

logger = logging.getLogger("backoffice.journal")

MONTHS_AHEAD = 3
FUNCTION = "backoffice_journal_create_partitions(integer)"


def journal_create_partitions(*, months_ahead: int = MONTHS_AHEAD,
                              using: str = DEFAULT_DB_ALIAS) -> list[tuple[datetime, int]]:
    """Create the missing partitions; return ``(month, rows moved from DEFAULT)`` for each one created.
    Nothing on other databases or before migration 0006."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SELECT to_regprocedure(%s)", [FUNCTION])
        if cursor.fetchone()[0] is None:
            return []
        cursor.execute("SELECT partition_month, moved_rows FROM backoffice_journal_create_partitions(%s)",
                       [months_ahead])
        created = [(month, int(moved)) for month, moved in cursor.fetchall()]
    for month, moved in created:
        logger.info("journal_partition_created month=%s moved_from_default=%s", f"{month:%Y-%m}", moved)
    return created


def journal_partitions(*, using: str = DEFAULT_DB_ALIAS) -> list[tuple[str, str, int]]:
    """``(partition, bounds, estimated rows)`` of every partition, oldest first, DEFAULT last."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), greatest(c.reltuples, 0)::bigint "
            "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'journal_journalentry'::regclass "
            "ORDER BY c.relname = 'journal_journalentry_default', c.relname")
        return [(name, bounds, int(rows)) for name, bounds, rows in cursor.fetchall()]
