"""The journal partitioned by month (PostgreSQL): rows in their month's partition, no fork of a chain
across partitions, the append-only guard on every partition, partitions made ahead of time and rows
moved out of the DEFAULT partition."""

import threading
from datetime import UTC, datetime

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from freezegun import freeze_time

from backoffice.cases.transitions import run_transition
from backoffice.journal import signing, tasks
from backoffice.journal.models import GENESIS_HASH, JournalChainHead, JournalEntry
from backoffice.journal.partitions import journal_create_partitions, journal_partitions
from backoffice.journal.services import journal_record, journal_verify_and_record
from backoffice.journal.verification import verify_full
from backoffice.scheduling import DEFAULT_SCHEDULES
from tests.backoffice.factories import make_ticket
from tests.backoffice.test_db_roles import _refused, as_app_role
from tests.testapp.transitions import ticket_step

pytestmark = pytest.mark.postgres


def _partition_of(entry_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM journal_journalentry WHERE id = %s", [entry_id])
        return cursor.fetchone()[0]


def _month_partition(when: datetime) -> str:
    return f"journal_journalentry_y{when.astimezone(UTC):%Y}m{when.astimezone(UTC):%m}"


def _partition_names() -> list[str]:
    return [name for name, _, _ in journal_partitions()]


def _note(ticket, actor):
    return journal_record(case_type="ticket", case_id=ticket.pk, case_reference=ticket.reference, transition="note",
                          source="in_progress", target="in_progress", actor=actor)


@pytest.mark.django_db
def test_the_journal_is_partitioned_by_month_with_partitions_ahead_and_a_default(specialist):
    ticket = make_ticket(requester=specialist)
    run_transition(ticket_step("start"), pk=ticket.pk, actor=specialist)

    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = 'journal_journalentry'::regclass")
        assert cursor.fetchone()[0] == "p"
    entries = list(JournalEntry.objects.filter(case_id=ticket.pk).order_by("seq"))
    assert [e.seq for e in entries] == [1, 2]
    assert {_partition_of(e.id) for e in entries} == {_month_partition(e.created_at) for e in entries}
    names = _partition_names()
    now = timezone.now().astimezone(UTC)
    ahead = [datetime(now.year + (now.month - 1 + k) // 12, (now.month - 1 + k) % 12 + 1, 1, tzinfo=UTC)
             for k in range(4)]
    assert all(_month_partition(month) in names for month in ahead), names
    assert names[-1] == "journal_journalentry_default"
    assert JournalChainHead.objects.get(case_type="ticket", case_id=ticket.pk).seq == 2


@pytest.mark.django_db
def test_a_second_row_at_one_place_of_a_chain_is_refused_whatever_partition_it_would_land_in(specialist):
    ticket = make_ticket(requester=specialist)
    run_transition(ticket_step("start"), pk=ticket.pk, actor=specialist)
    first, second = JournalEntry.objects.filter(case_id=ticket.pk).order_by("seq")

    for seq, prev_hash, created_at in ((2, first.hash, datetime(2031, 7, 1, tzinfo=UTC)),  # DEFAULT partition
                                       (1, GENESIS_HASH, second.created_at),  # this month's partition
                                       (5, second.hash, second.created_at)):  # a gap
        forged = JournalEntry(case_type="ticket", case_id=ticket.pk, case_reference=ticket.reference, seq=seq,
                              transition="cancel", source_state="in_progress", target_state="cancelled",
                              actor_label="mallory", created_at=created_at, prev_hash=prev_hash,
                              key_id=signing.current_key()[0])
        forged.hash = forged.compute_hash()
        with pytest.raises(IntegrityError, match="does not follow its head"), transaction.atomic():
            forged.save(force_insert=True)

    assert list(JournalEntry.objects.filter(case_id=ticket.pk).values_list("seq", flat=True)) == [1, 2]
    journal_verify_and_record(mode="incremental", trigger="test")
    assert verify_full().intact


@pytest.mark.django_db(transaction=True)
def test_two_appends_racing_on_one_chain_cannot_both_commit(specialist):
    """Without the case's row lock (the transition service takes it), two writers read the same tail;
    the chain head lets only the first commit, the second fails as the unique index failed before."""
    ticket = make_ticket(requester=specialist)
    inserted, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first_writer():
        try:
            with transaction.atomic():
                _note(ticket, specialist)
                inserted.set()
                release.wait(10)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=first_writer)
    thread.start()
    assert inserted.wait(10)
    threading.Timer(0.5, release.set).start()  # the first commits while the second waits on the head
    with pytest.raises(IntegrityError, match="does not follow its head"), transaction.atomic():
        _note(ticket, specialist)
    thread.join()

    assert not errors, errors
    assert list(JournalEntry.objects.filter(case_id=ticket.pk).order_by("seq").values_list("seq", flat=True)) == [1, 2]
    assert verify_full().intact


@pytest.mark.django_db
def test_the_app_role_cannot_change_truncate_detach_or_drop_any_partition_nor_move_a_chain_head(specialist):
    make_ticket(requester=specialist)
    partitions = _partition_names()
    with as_app_role():
        for table in ["journal_journalentry", *partitions]:
            for sql in (f"UPDATE {table} SET reason = 'x'", f"DELETE FROM {table}", f"TRUNCATE {table}"):
                assert "permission denied" in _refused(sql), sql
        for sql in (f"ALTER TABLE journal_journalentry DETACH PARTITION {partitions[0]}",
                    f"DROP TABLE {partitions[-1]}",
                    f"ALTER TABLE {partitions[-1]} DISABLE TRIGGER USER"):
            assert "must be owner" in _refused(sql), sql
        for sql in ("UPDATE journal_journalchainhead SET seq = 1", "DELETE FROM journal_journalchainhead",
                    "INSERT INTO journal_journalchainhead VALUES ('ticket', 999999, 1, 'x')",
                    "TRUNCATE journal_journalchainhead"):
            assert "permission denied" in _refused(sql), sql
    assert JournalChainHead.objects.count() == 1 and verify_full().rows_checked == 1


@pytest.mark.django_db
def test_every_partition_refuses_truncate_even_to_the_owner_including_new_ones(specialist, db_owner):
    with freeze_time("2033-02-10 09:00:00"):
        make_ticket(requester=specialist)  # lands in DEFAULT, then gets a partition of its own
    assert journal_create_partitions(months_ahead=0)[0][1] == 1
    partitions = _partition_names()
    assert "journal_journalentry_y2033m02" in partitions
    for table in partitions:
        with pytest.raises(DatabaseError) as err:
            db_owner("SELECT set_config('backoffice.journal_purge', 'off', true)")  # as in production
            db_owner(f"TRUNCATE {table}")
        assert "append-only" in str(err.value), table
    for statement in ("UPDATE journal_journalentry_y2033m02 SET reason = 'x'",
                      "DELETE FROM journal_journalentry_y2033m02"):
        with pytest.raises(DatabaseError, match="append-only"):
            db_owner(statement)
    assert JournalEntry.objects.count() == 1


@pytest.mark.django_db
def test_rows_that_landed_in_default_move_to_the_partition_made_for_their_month(specialist):
    with freeze_time("2031-05-14 10:00:00"):
        ticket = make_ticket(requester=specialist)
        run_transition(ticket_step("start"), pk=ticket.pk, actor=specialist)
    with freeze_time("2031-06-02 08:00:00"):
        run_transition(ticket_step("cancel"), pk=ticket.pk, actor=specialist, reason="duplicate")
    before = list(JournalEntry.objects.filter(case_id=ticket.pk).order_by("seq").values_list("id", "seq", "hash"))
    assert {_partition_of(i) for i, _, _ in before} == {"journal_journalentry_default"}
    journal_verify_and_record(mode="incremental", trigger="test")  # a checkpoint over the rows where they were

    created = journal_create_partitions(months_ahead=0)

    assert [(f"{month:%Y-%m}", moved) for month, moved in created] == [("2031-05", 2), ("2031-06", 1)]
    after = list(JournalEntry.objects.filter(case_id=ticket.pk).order_by("seq").values_list("id", "seq", "hash"))
    assert after == before
    assert [_partition_of(i) for i, _, _ in after] == ["journal_journalentry_y2031m05"] * 2 + [
        "journal_journalentry_y2031m06"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM journal_journalentry_default")
        assert cursor.fetchone()[0] == 0
    assert verify_full().intact and journal_verify_and_record(mode="incremental", trigger="test").intact
    assert journal_create_partitions(months_ahead=0) == []  # nothing left to do


@pytest.mark.django_db
def test_a_horizon_out_of_bounds_is_refused_and_nothing_is_created():
    names = _partition_names()
    with pytest.raises(DatabaseError, match="between 0 and 36"):
        journal_create_partitions(months_ahead=99)
    assert _partition_names() == names


@pytest.mark.django_db
def test_the_daily_task_makes_the_missing_partitions(specialist):
    assert ("journal.create_partitions", 24 * 60) in DEFAULT_SCHEDULES
    assert PeriodicTask.objects.get(name="journal.create_partitions").enabled
    with freeze_time("2032-09-30 23:59:59"):
        make_ticket(requester=specialist)

    assert tasks.create_partitions() == 1
    assert "journal_journalentry_y2032m09" in _partition_names()
    assert tasks.create_partitions() == 0
