"""The app's database role: rows yes, journal rewrites and schema changes no (PostgreSQL)."""

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import DatabaseError, connection, transaction

from backoffice.cases.transitions import run_transition
from backoffice.dbroles import APPEND_ONLY_TABLES, grant_app_role, is_owner_or_superuser
from backoffice.journal.models import JournalEntry
from tests.backoffice.factories import make_ticket
from tests.testapp.transitions import ticket_step

ROOT = Path(__file__).resolve().parents[2]
PROBE_ROLE = "backoffice_app_probe"
pytestmark = pytest.mark.postgres


@contextmanager
def as_app_role():
    """The app's role: the suite's own connection when it runs as one (CI: DATABASE_OWNER_URL set),
    otherwise a role granted exactly what `migrate` grants the app, switched to with SET ROLE."""
    with transaction.atomic():
        if is_owner_or_superuser(connection):
            with connection.cursor() as cursor:
                cursor.execute(f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PROBE_ROLE}') "
                               f"THEN CREATE ROLE {PROBE_ROLE}; END IF; END $$")
                grant_app_role(connection, role=PROBE_ROLE)
                cursor.execute(f"SET LOCAL ROLE {PROBE_ROLE}")
        assert not is_owner_or_superuser(connection)
        yield


def _refused(sql) -> str:
    with pytest.raises(DatabaseError) as err, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    return str(err.value)


@pytest.mark.django_db
def test_the_suite_runs_as_the_app_role_when_an_owner_url_is_given():
    assert is_owner_or_superuser(connection) is not bool(os.environ.get("DATABASE_OWNER_URL"))


@pytest.mark.django_db
@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_the_app_role_cannot_update_delete_or_truncate_the_append_only_tables(specialist, table):
    ticket = make_ticket(requester=specialist)
    with as_app_role():
        for sql in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}", f"TRUNCATE {table}"):
            assert "permission denied" in _refused(sql), sql
    assert JournalEntry.objects.filter(case_id=ticket.pk).count() == 1


@pytest.mark.django_db
def test_the_app_role_cannot_disable_or_replace_the_trigger_or_bypass_it(specialist):
    make_ticket(requester=specialist)
    with as_app_role():
        for sql in ("ALTER TABLE journal_journalentry DISABLE TRIGGER ALL",
                    "ALTER TABLE journal_journalentry DISABLE TRIGGER journal_journalentry_no_update_delete",
                    "DROP TRIGGER journal_journalentry_no_update_delete ON journal_journalentry",
                    "CREATE OR REPLACE FUNCTION backoffice_journal_append_only() RETURNS trigger "
                    "AS $$ BEGIN RETURN NEW; END; $$ LANGUAGE plpgsql",
                    "ALTER TABLE journal_journalentry OWNER TO CURRENT_USER",
                    "SET session_replication_role = replica",
                    "DROP TABLE journal_journalentry"):
            message = _refused(sql)
            assert "must be owner" in message or "permission denied" in message, (sql, message)


@pytest.mark.django_db
def test_the_app_role_still_writes_cases_and_journal_rows(specialist):
    ticket = make_ticket(requester=specialist)
    with as_app_role():
        run_transition(ticket_step("start"), pk=ticket.pk, actor=specialist)
        assert JournalEntry.objects.filter(case_id=ticket.pk).count() == 2
        assert "permission denied" in _refused("INSERT INTO django_migrations (app, name, applied) "
                                               "VALUES ('x', 'y', now())")


@pytest.mark.django_db(transaction=True)
def test_migrate_with_an_owner_url_migrates_as_the_owner_and_grants_the_app_role(db_owner):
    """`manage.py migrate` in production: DATABASE_URL is the app's role, DATABASE_OWNER_URL the owner."""
    db_owner(f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PROBE_ROLE}') "
             f"THEN CREATE ROLE {PROBE_ROLE} LOGIN; ELSE ALTER ROLE {PROBE_ROLE} LOGIN; END IF; END $$")
    db_owner(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {PROBE_ROLE}")
    settings = connection.settings_dict
    host, port, name = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432, settings["NAME"]
    owner_url = os.environ.get("DATABASE_OWNER_URL") or os.environ["DATABASE_URL"]
    from backoffice.dbroles import owner_settings

    owner = owner_settings(owner_url)
    auth = owner["USER"] + (f":{owner['PASSWORD']}" if owner["PASSWORD"] else "")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backoffice.settings.test",
           "DATABASE_URL": f"postgres://{PROBE_ROLE}@{host}:{port}/{name}",
           "DATABASE_OWNER_URL": f"postgres://{auth}@{owner['HOST'] or host}:{owner['PORT'] or port}/{name}"}
    result = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"granted row access to {PROBE_ROLE}" in result.stdout
    with connection.cursor() as cursor:
        cursor.execute("SELECT has_table_privilege(%s, 'journal_journalentry', 'INSERT'), "
                       "has_table_privilege(%s, 'journal_journalentry', 'UPDATE'), "
                       "has_table_privilege(%s, 'journal_journalentry', 'TRUNCATE'), "
                       "has_table_privilege(%s, 'refunds_refund', 'UPDATE')", [PROBE_ROLE] * 4)
        assert cursor.fetchone() == (True, False, False, True)
