"""The journal: keyed hash chain, signed checkpoints, verify_journal, and the PostgreSQL trigger."""

import hashlib
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from backoffice.cases.transitions import run_transition
from backoffice.errors import PermissionDenied
from backoffice.journal import signing
from backoffice.journal.models import (
    GENESIS_HASH,
    JournalCheckpoint,
    JournalCheckpointHead,
    JournalEntry,
    JournalVerification,
)
from backoffice.journal.services import journal_checkpoint_genesis, journal_record, journal_verify_and_record
from backoffice.journal.verification import verify_full
from tests.backoffice.factories import make_ticket
from tests.testapp.models import Ticket
from tests.testapp.transitions import ticket_step

ROOT = Path(__file__).resolve().parents[2]


def _walk(ticket, actor):
    run_transition(ticket_step("start"), pk=ticket.pk, actor=actor)
    run_transition(ticket_step("cancel"), pk=ticket.pk, actor=actor, reason="duplicate")


def _verify_errors(capsys) -> str:
    with pytest.raises(CommandError):
        call_command("verify_journal")
    return capsys.readouterr().err


def _rewrite_chain(db_owner, ticket, seq, *, key_id=None, reason=None):
    """What an attacker with write access but without the key can do: change a row and recompute
    its hash and every later hash of the chain (legacy rows with their SHA-256; keyed rows with
    SHA-256 too, having no key)."""
    rows = list(JournalEntry.objects.filter(case_type="ticket", case_id=ticket.pk).order_by("seq"))
    prev = rows[seq - 2].hash if seq > 1 else GENESIS_HASH
    for row in rows[seq - 1:]:
        if key_id is not None:
            row.key_id = key_id
        if reason is not None and row.seq == seq:
            row.reason = reason
        row.prev_hash = prev
        if row.key_id == "":
            new_hash = row.compute_hash()
        else:
            payload = json.dumps({**row.canonical_payload(), "key_id": row.key_id}, sort_keys=True,
                                 separators=(",", ":"), ensure_ascii=False, default=str)
            new_hash = hashlib.sha256((prev + payload).encode()).hexdigest()
        db_owner("UPDATE journal_journalentry SET reason = %s, key_id = %s, prev_hash = %s, hash = %s WHERE id = %s",
                 [row.reason, row.key_id, prev, new_hash, row.id], bypass_triggers=True)
        prev = new_hash


@pytest.mark.django_db
def test_each_case_has_its_own_keyed_chain_starting_from_genesis(specialist):
    a, b = make_ticket(requester=specialist), make_ticket(requester=specialist)
    _walk(a, specialist)
    _walk(b, specialist)
    for ticket in (a, b):
        rows = list(JournalEntry.objects.filter(case_id=ticket.pk, case_type="ticket").order_by("seq"))
        assert [r.seq for r in rows] == [1, 2, 3]
        assert rows[0].prev_hash == GENESIS_HASH
        assert all(rows[i].prev_hash == rows[i - 1].hash for i in range(1, 3))
        assert all(r.key_id == "dev" and r.hash == r.compute_hash() for r in rows)
        # Keyed: the plain SHA-256 of the same content is not the stored hash.
        assert all(r.hash != signing.entry_digest(key_id="", secret=None, prev_hash=r.prev_hash,
                                                  payload=r.canonical_payload()) for r in rows)
        assert rows[0].case_reference == ticket.reference


@pytest.mark.django_db
def test_keys_rotate_rows_signed_before_keep_verifying_and_a_dropped_key_is_named(specialist, settings):
    old = settings.JOURNAL_HMAC_KEYS[0]
    before = make_ticket(requester=specialist)
    _walk(before, specialist)
    settings.JOURNAL_HMAC_KEYS = [("2027a", b"n" * 40), old]
    after = make_ticket(requester=specialist)
    _walk(after, specialist)
    assert set(JournalEntry.objects.filter(case_id=after.pk).values_list("key_id", flat=True)) == {"2027a"}
    assert journal_verify_and_record(mode="incremental", trigger="test").intact
    assert JournalCheckpoint.objects.order_by("-seq").first().key_id == "2027a"
    assert verify_full().intact
    settings.JOURNAL_HMAC_KEYS = [("2027a", b"n" * 40)]
    problems = [str(p) for p in verify_full().problems]
    assert any(before.reference in p and "unknown key id 'dev'" in p for p in problems)
    assert not any(after.reference in p for p in problems)


@pytest.mark.django_db
def test_verify_journal_passes_on_an_intact_journal(specialist, capsys):
    _walk(make_ticket(requester=specialist), specialist)
    call_command("verify_journal")
    assert "Journal intact: 3 rows verified (full)" in capsys.readouterr().out
    assert JournalVerification.objects.get().intact


@pytest.mark.django_db(transaction=True)
def test_journal_record_refuses_to_run_outside_the_case_transaction(specialist):
    ticket = make_ticket(requester=specialist)
    with pytest.raises(RuntimeError):
        journal_record(case_type="ticket", case_id=ticket.pk, transition="note", source="open", target="open",
                       actor=specialist)
    assert JournalEntry.objects.filter(case_id=ticket.pk, transition="note").count() == 0


@pytest.mark.django_db
def test_verify_journal_names_each_broken_case(specialist, db_owner, capsys):
    good, bad_reason, bad_order = (make_ticket(requester=specialist) for _ in range(3))
    for t in (good, bad_reason, bad_order):
        _walk(t, specialist)
    db_owner("UPDATE journal_journalentry SET reason = %s WHERE case_id = %s AND seq = 3",
             ["approved by the boss", bad_reason.pk], bypass_triggers=True)
    db_owner("UPDATE journal_journalentry SET target_state = %s WHERE case_id = %s AND seq = 2",
             ["done", bad_order.pk], bypass_triggers=True)

    with pytest.raises(CommandError) as err:
        call_command("verify_journal")

    assert "2 broken chain(s)" in str(err.value)
    out = capsys.readouterr().err
    assert bad_reason.reference in out and bad_order.reference in out and good.reference not in out


@pytest.mark.django_db
def test_a_row_changed_with_every_later_hash_recomputed_is_found(specialist, db_owner, capsys):
    ticket, other = make_ticket(requester=specialist), make_ticket(requester=specialist)
    _walk(ticket, specialist)
    _walk(other, specialist)
    _rewrite_chain(db_owner, ticket, 2, reason="approved by the boss")
    rows = list(JournalEntry.objects.filter(case_id=ticket.pk).order_by("seq"))
    assert rows[1].reason == "approved by the boss" and rows[2].prev_hash == rows[1].hash  # the chain links

    err = _verify_errors(capsys)

    assert f"ticket {ticket.reference}" in err and "row content does not match its hash at seq 2" in err
    assert other.reference not in err


@pytest.mark.django_db
def test_a_row_downgraded_to_an_unkeyed_hash_is_found(specialist, db_owner, capsys):
    ticket = make_ticket(requester=specialist)
    _walk(ticket, specialist)
    row = JournalEntry.objects.get(case_id=ticket.pk, seq=3)
    row.key_id, row.reason = "", "nobody asked"
    db_owner("UPDATE journal_journalentry SET key_id = '', reason = %s, hash = %s WHERE id = %s",
             [row.reason, row.compute_hash(), row.id], bypass_triggers=True)

    err = _verify_errors(capsys)

    assert ticket.reference in err and "without a key id" in err


@pytest.mark.django_db
def test_a_deleted_tail_is_found_against_the_checkpoint(specialist, db_owner, capsys):
    ticket = make_ticket(requester=specialist)
    _walk(ticket, specialist)
    call_command("verify_journal", "--incremental")  # signs a checkpoint with the chain's head at seq 3
    db_owner("DELETE FROM journal_journalentry WHERE case_id = %s AND seq >= 2", [ticket.pk], bypass_triggers=True)

    err = _verify_errors(capsys)

    assert f"ticket {ticket.reference}" in err and "tail deleted" in err and "recorded 3 row(s)" in err
    # The scheduled, incremental check finds it too (by the count the checkpoint signed).
    result = journal_verify_and_record(mode="incremental", trigger="test")
    assert not result.intact and "signed 3 row(s)" in result.problems[0]["text"]


@pytest.mark.django_db
def test_a_deleted_chain_is_found_against_the_checkpoint(specialist, db_owner, capsys):
    ticket, other = make_ticket(requester=specialist), make_ticket(requester=specialist)
    _walk(ticket, specialist)
    call_command("verify_journal", "--incremental")
    db_owner("DELETE FROM journal_journalentry WHERE case_id = %s", [ticket.pk], bypass_triggers=True)

    err = _verify_errors(capsys)

    assert f"ticket {ticket.reference}" in err and "chain deleted" in err
    assert other.reference not in err


@pytest.mark.django_db
def test_a_changed_or_deleted_checkpoint_is_found(specialist, db_owner, capsys):
    _walk(make_ticket(requester=specialist), specialist)
    call_command("verify_journal", "--incremental")
    db_owner("UPDATE journal_journalcheckpoint SET row_count = 1 WHERE seq = 2", bypass_triggers=True)
    assert "checkpoint #2: signature does not match" in _verify_errors(capsys)
    db_owner("DELETE FROM journal_journalcheckpointhead WHERE checkpoint_seq = 2", bypass_triggers=True)
    assert "chain head(s) were deleted" in _verify_errors(capsys)
    db_owner("DELETE FROM journal_journalcheckpoint", bypass_triggers=True)
    assert "no signed checkpoint exists" in _verify_errors(capsys)


@pytest.mark.django_db
def test_legacy_unkeyed_rows_are_trusted_only_up_to_the_migration_checkpoint(specialist, db_owner, capsys):
    """Rows from before keyed hashes keep their SHA-256 chain; the migration's signed checkpoint pins
    each legacy chain's head, so rewriting them and recomputing the SHA-256 chain is still found."""
    db_owner("DELETE FROM journal_journalcheckpoint", bypass_triggers=True)
    legacy_only, continued = make_ticket(requester=specialist), make_ticket(requester=specialist)
    for ticket in (legacy_only, continued):
        run_transition(ticket_step("start"), pk=ticket.pk, actor=specialist)
        _rewrite_chain(db_owner, ticket, 1, key_id="")  # as the table held before migration 0004
        # Migration 0006 took each chain's head from the rows it found (the legacy ones included).
        last = JournalEntry.objects.filter(case_type="ticket", case_id=ticket.pk).order_by("-seq").first()
        db_owner("UPDATE journal_journalchainhead SET seq = %s, hash = %s WHERE case_type = 'ticket' AND case_id = %s",
                 [last.seq, last.hash, ticket.pk])
    journal_checkpoint_genesis()  # what migration 0004 does
    run_transition(ticket_step("cancel"), pk=continued.pk, actor=specialist)  # a keyed row continues
    call_command("verify_journal")
    assert "Journal intact: 5 rows verified" in capsys.readouterr().out

    _rewrite_chain(db_owner, legacy_only, 1, reason="backdated")
    _rewrite_chain(db_owner, continued, 2, reason="backdated")
    err = _verify_errors(capsys)
    assert f"{legacy_only.reference} (id {legacy_only.pk}): row differs from its head in checkpoint #1" in err
    assert f"{continued.reference} (id {continued.pk}): row content does not match its hash at seq 3" in err


@pytest.mark.django_db
def test_incremental_verification_signs_checkpoints_and_checks_only_new_rows(specialist, db_owner):
    first = make_ticket(requester=specialist)
    _walk(first, specialist)
    run1 = journal_verify_and_record(mode="incremental", trigger="test")
    assert run1.intact and run1.rows_checked == 3 and run1.checkpoint_seq == 2
    second = make_ticket(requester=specialist)
    _walk(second, specialist)
    run2 = journal_verify_and_record(mode="incremental", trigger="test")
    assert run2.intact and run2.rows_checked == 3 and run2.checkpoint_seq == 3
    cp = JournalCheckpoint.objects.get(seq=3)
    assert (cp.row_count, cp.chain_count, cp.heads_count) == (6, 2, 1)
    assert list(JournalCheckpointHead.objects.filter(checkpoint_seq=3).values_list("case_id", "seq")) == [
        (second.pk, 3)]
    # Nothing new: nothing to sign, still intact.
    run3 = journal_verify_and_record(mode="incremental", trigger="test")
    assert run3.intact and run3.rows_checked == 0 and JournalCheckpoint.objects.count() == 3

    # A new row tampered before the next checkpoint is caught and no checkpoint is signed over it.
    third = make_ticket(requester=specialist)
    _walk(third, specialist)
    db_owner("UPDATE journal_journalentry SET reason = 'x' WHERE case_id = %s AND seq = 3", [third.pk],
             bypass_triggers=True)
    run4 = journal_verify_and_record(mode="incremental", trigger="test")
    assert not run4.intact and third.reference in run4.problems[0]["text"]
    assert JournalCheckpoint.objects.count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_checkpoints_taken_while_cases_are_written_stay_consistent(specialist):
    """Writers in threads and checkpoints at the same time: no row lands below a checkpoint's
    boundary after it was signed (the journal write lock), so every run stays intact."""
    tickets = [make_ticket(requester=specialist) for _ in range(4)]
    errors: list[BaseException] = []

    def write(ticket):
        try:
            run_transition(ticket_step("start"), pk=ticket.pk, actor=specialist)
            for _ in range(8):
                with transaction.atomic():
                    Ticket.objects.select_for_update().get(pk=ticket.pk)
                    journal_record(case_type="ticket", case_id=ticket.pk, case_reference=ticket.reference,
                                   transition="note", source="in_progress", target="in_progress", actor=specialist)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(t,)) for t in tickets]
    for t in threads:
        t.start()
    runs = []
    while any(t.is_alive() for t in threads):
        runs.append(journal_verify_and_record(mode="incremental", trigger="test"))
    for t in threads:
        t.join()
    runs.append(journal_verify_and_record(mode="incremental", trigger="test"))
    assert not errors, errors
    assert all(r.intact for r in runs), [r.problems for r in runs if not r.intact]
    assert verify_full().intact
    assert JournalCheckpoint.objects.order_by("-seq").first().row_count == JournalEntry.objects.count()


@pytest.mark.django_db(transaction=True)
def test_verify_journal_command_in_a_subprocess_exits_non_zero_naming_the_case(specialist, db_owner):
    ticket = make_ticket(requester=specialist)
    _walk(ticket, specialist)
    call_command("verify_journal", "--incremental")
    db_owner("DELETE FROM journal_journalentry WHERE case_id = %s AND seq = 3", [ticket.pk], bypass_triggers=True)
    db = connection.settings_dict
    env = {**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "backoffice.settings.test"}
    if connection.vendor == "postgresql":
        env["DATABASE_URL"] = (f"postgres://{db['USER']}{':' + db['PASSWORD'] if db['PASSWORD'] else ''}"
                               f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}")
    else:
        pytest.skip("the subprocess cannot see an in-memory SQLite test database")
    result = subprocess.run([sys.executable, "manage.py", "verify_journal"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert f"BROKEN ticket {ticket.reference}" in result.stderr and "tail deleted" in result.stderr


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("statement", [
    "UPDATE journal_journalentry SET reason = 'changed'",
    "DELETE FROM journal_journalentry",
    "UPDATE journal_journalcheckpoint SET row_count = 0",
    "DELETE FROM journal_journalcheckpointhead",
])
def test_the_trigger_refuses_update_and_delete_even_to_the_owner(specialist, statement, db_owner):
    _walk(make_ticket(requester=specialist), specialist)
    call_command("verify_journal", "--incremental")
    with pytest.raises(DatabaseError) as err:
        db_owner(statement)
    assert "append-only" in str(err.value)
    assert JournalEntry.objects.filter(reason="changed").count() == 0
    assert JournalEntry.objects.count() == 3 and verify_full().intact


@pytest.mark.postgres
@pytest.mark.django_db
def test_truncate_on_the_journal_fails_for_the_owner(specialist, db_owner):
    _walk(make_ticket(requester=specialist), specialist)
    with pytest.raises(DatabaseError) as err:
        # Test databases allow Django's flush to TRUNCATE; with that switch off, as in production, it is refused.
        db_owner("SELECT set_config('backoffice.journal_purge', 'off', true)")
        db_owner("TRUNCATE journal_journalentry")
    assert "append-only" in str(err.value)
    assert JournalEntry.objects.count() == 3


@pytest.mark.postgres
@pytest.mark.django_db
def test_denied_attempts_are_append_only_too(specialist, auditor):
    ticket = make_ticket(requester=specialist)
    with pytest.raises(PermissionDenied):
        run_transition(ticket_step("start"), pk=ticket.pk, actor=auditor)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM journal_deniedattempt")


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_the_audit_page_asks_a_real_worker_to_verify_and_shows_its_result(celery_worker_process, client, lead,
                                                                          specialist):
    import time

    ticket = make_ticket(requester=specialist)
    _walk(ticket, specialist)
    client.force_login(lead)
    assert client.post("/audit/verify/").status_code == 302
    deadline = time.monotonic() + 60
    while not JournalVerification.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    result = JournalVerification.objects.get()
    assert result.intact and result.rows_checked == 3 and result.trigger == "user:lead1"
    assert JournalCheckpoint.objects.order_by("-seq").first().row_count == 3
    assert 'data-chain="intact"' in client.get("/audit/").content.decode()
