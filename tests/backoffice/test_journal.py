"""The journal: hash chain, verify_journal, and the PostgreSQL trigger that refuses changes."""

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from backoffice.cases.transitions import run_transition
from backoffice.errors import PermissionDenied
from backoffice.journal.models import GENESIS_HASH, JournalEntry
from backoffice.journal.services import journal_record
from tests.backoffice.factories import make_ticket
from tests.testapp.models import Ticket


def _walk(ticket, actor):
    run_transition(model=Ticket, pk=ticket.pk, name="start", actor=actor)
    run_transition(model=Ticket, pk=ticket.pk, name="cancel", actor=actor, reason="duplicate")


@pytest.mark.django_db
def test_each_case_has_its_own_chain_starting_from_genesis(specialist):
    a, b = make_ticket(requester=specialist), make_ticket(requester=specialist)
    _walk(a, specialist)
    _walk(b, specialist)
    for ticket in (a, b):
        rows = list(JournalEntry.objects.filter(case_id=ticket.pk, case_type="ticket").order_by("seq"))
        assert [r.seq for r in rows] == [1, 2, 3]
        assert rows[0].prev_hash == GENESIS_HASH
        assert all(rows[i].prev_hash == rows[i - 1].hash for i in range(1, 3))
        assert all(r.hash == r.compute_hash() for r in rows)
        assert rows[0].case_reference == ticket.reference


@pytest.mark.django_db
def test_verify_journal_passes_on_an_intact_journal(specialist, capsys):
    _walk(make_ticket(requester=specialist), specialist)
    call_command("verify_journal")
    assert "Journal intact: 3 rows verified" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_journal_record_refuses_to_run_outside_the_case_transaction(specialist):
    ticket = make_ticket(requester=specialist)
    with pytest.raises(RuntimeError):
        journal_record(case_type="ticket", case_id=ticket.pk, transition="note", source="open", target="open",
                       actor=specialist)
    assert JournalEntry.objects.filter(case_id=ticket.pk, transition="note").count() == 0


def _tamper(sql, params):
    """Change a row behind the trigger's back, as a DBA with superuser rights could."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = origin")


@pytest.mark.django_db
def test_verify_journal_names_each_broken_case(specialist):
    good, bad_reason, bad_order = (make_ticket(requester=specialist) for _ in range(3))
    for t in (good, bad_reason, bad_order):
        _walk(t, specialist)
    _tamper("UPDATE journal_journalentry SET reason = %s WHERE case_id = %s AND seq = 3",
            ["approved by the boss", bad_reason.pk])
    _tamper("UPDATE journal_journalentry SET target_state = %s WHERE case_id = %s AND seq = 2",
            ["done", bad_order.pk])

    with pytest.raises(CommandError) as err:
        call_command("verify_journal")

    assert "2 broken chain(s)" in str(err.value)


@pytest.mark.django_db
def test_verify_journal_output_names_the_cases(specialist, capsys):
    ticket = make_ticket(requester=specialist)
    _walk(ticket, specialist)
    _tamper("DELETE FROM journal_journalentry WHERE case_id = %s AND seq = 2", [ticket.pk])
    with pytest.raises(CommandError):
        call_command("verify_journal")
    err = capsys.readouterr().err
    assert f"ticket {ticket.reference}" in err and "sequence gap" in err


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("statement", [
    "UPDATE journal_journalentry SET reason = 'changed'",
    "DELETE FROM journal_journalentry",
])
def test_raw_update_and_delete_on_the_journal_fail(specialist, statement):
    _walk(make_ticket(requester=specialist), specialist)
    with pytest.raises(DatabaseError) as err, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert "append-only" in str(err.value)
    assert JournalEntry.objects.filter(reason="changed").count() == 0
    assert JournalEntry.objects.count() == 3


@pytest.mark.postgres
@pytest.mark.django_db
def test_truncate_on_the_journal_fails(specialist):
    _walk(make_ticket(requester=specialist), specialist)
    with pytest.raises(DatabaseError) as err, transaction.atomic(), connection.cursor() as cursor:
        # Test databases allow Django's flush to TRUNCATE; with that switch off, as in production, it is refused.
        cursor.execute("SET LOCAL backoffice.journal_purge = 'off'")
        cursor.execute("TRUNCATE journal_journalentry")
    assert "append-only" in str(err.value)
    assert JournalEntry.objects.count() == 3


@pytest.mark.postgres
@pytest.mark.django_db
def test_denied_attempts_are_append_only_too(specialist, auditor):
    ticket = make_ticket(requester=specialist)
    with pytest.raises(PermissionDenied):
        run_transition(model=Ticket, pk=ticket.pk, name="start", actor=auditor)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM journal_deniedattempt")
