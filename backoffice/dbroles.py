"""Database roles on PostgreSQL: the owner migrates, the app only reads and writes rows.

In production the app (web, workers, beat) connects with ``DATABASE_URL`` as a role that owns
nothing: it may SELECT, INSERT, UPDATE and DELETE ordinary tables, but on the append-only tables
(the journal and each of its partitions, its checkpoints, denied attempts) only SELECT and INSERT,
on the journal's chain heads only SELECT, and it can never ALTER, DETACH or DROP a table or disable a
trigger (only an owner can); it may EXECUTE the owner's function that makes the journal's partitions.
``manage.py migrate`` with ``DATABASE_OWNER_URL`` set connects as the owner for the migration and
then grants the app's role (``DATABASE_URL``'s user) exactly that, every time, so new tables are
covered.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

# Tables nobody may change once written. Other apps may add theirs here (with their own trigger).
APPEND_ONLY_TABLES = [
    "journal_journalentry",
    "journal_deniedattempt",
    "journal_journalcheckpoint",
    "journal_journalcheckpointhead",
]

# Tables the app reads but never writes (the journal's chain heads are advanced by its trigger, as the owner).
READ_ONLY_TABLES = ["django_migrations", "journal_journalchainhead"]

# Owner's functions (SECURITY DEFINER) the app's role may run: the journal's partitions ahead of time.
APP_FUNCTIONS = ["backoffice_journal_create_partitions(integer)"]


def quote(connection: BaseDatabaseWrapper, name: str) -> str:
    return connection.ops.quote_name(name)


def grant_app_role(connection: BaseDatabaseWrapper, *, role: str) -> None:
    """Give ``role`` row access to every table of the schema, and no more than INSERT on the
    append-only ones (and their partitions). Run as the owner; idempotent."""
    if connection.vendor != "postgresql":
        return
    r = quote(connection, role)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = quote(connection, cursor.fetchone()[0])
        cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {r}")
        cursor.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {r}")
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {r}")
        cursor.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {r}")
        for table in READ_ONLY_TABLES:
            cursor.execute("SELECT to_regclass(%s)", [table])
            if cursor.fetchone()[0] is not None:
                cursor.execute(f"REVOKE INSERT, UPDATE, DELETE ON {quote(connection, table)} FROM {r}")
        for table in APPEND_ONLY_TABLES:
            cursor.execute("SELECT to_regclass(%s)", [table])
            if cursor.fetchone()[0] is None:
                continue
            cursor.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = %s::regclass", [table])
            for name in [table, *(row[0] for row in cursor.fetchall())]:
                cursor.execute(f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {quote(connection, name)} "
                               f"FROM {r}")
        for function in APP_FUNCTIONS:
            cursor.execute("SELECT to_regprocedure(%s)", [function])
            if cursor.fetchone()[0] is not None:
                cursor.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {r}")


def is_owner_or_superuser(connection: BaseDatabaseWrapper, *, table: str = "journal_journalentry") -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.rolsuper OR pg_has_role(current_user, c.relowner, 'USAGE') "
            "FROM pg_roles r, pg_class c WHERE r.rolname = current_user AND c.oid = %s::regclass", [table])
        return bool(cursor.fetchone()[0])


def owner_settings(url: str) -> dict[str, Any]:
    """USER/PASSWORD/HOST/PORT from an owner URL (the database name stays the connection's)."""
    import dj_database_url

    parsed = dj_database_url.parse(url)
    return {k: parsed.get(k, "") for k in ("USER", "PASSWORD", "HOST", "PORT")}


@contextmanager
def connected_as(connection: BaseDatabaseWrapper, credentials: dict[str, Any]) -> Iterator[None]:
    """Reconnect ``connection`` with other credentials for the duration (outside any transaction)."""
    saved = {k: connection.settings_dict.get(k, "") for k in credentials}
    connection.close()
    connection.settings_dict.update(credentials)
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)
