"""The shared transition service: permission → state → transition → journal, refusals recorded."""

import threading

import pytest
from django.db import connection, connections, transaction

from backoffice.actors import CELERY
from backoffice.cases.transitions import available_transitions, run_transition
from backoffice.errors import ConcurrentChange, PermissionDenied, TransitionNotAllowed
from backoffice.journal.models import DeniedAttempt, JournalEntry
from tests.backoffice.factories import make_ticket
from tests.testapp.models import Ticket


def journal_rows(ticket):
    return list(JournalEntry.objects.filter(case_type="ticket", case_id=ticket.pk).order_by("seq"))


@pytest.mark.django_db
def test_allowed_transition_changes_state_and_writes_one_journal_row(specialist):
    ticket = make_ticket(requester=specialist)

    result = run_transition(model=Ticket, pk=ticket.pk, name="start", actor=specialist, reason="on it")

    assert result.state == "working"
    assert Ticket.objects.get(pk=ticket.pk).state == "working"
    rows = journal_rows(ticket)
    assert [(r.transition, r.source_state, r.target_state) for r in rows] == [
        ("create", "", "open"), ("start", "open", "working")]
    assert rows[1].actor_label == "spec1" and rows[1].reason == "on it"
    assert rows[1].prev_hash == rows[0].hash


@pytest.mark.django_db
def test_transition_from_wrong_state_is_refused_and_recorded(lead):
    ticket = make_ticket(requester=lead)

    with pytest.raises(TransitionNotAllowed) as err:
        run_transition(model=Ticket, pk=ticket.pk, name="finish", actor=lead)

    assert err.value.code == "transition_not_allowed"
    assert Ticket.objects.get(pk=ticket.pk).state == "open"
    assert len(journal_rows(ticket)) == 1
    denied = DeniedAttempt.objects.get(case_id=ticket.pk)
    assert (denied.action, denied.code, denied.actor_label) == ("finish", "transition_not_allowed", "lead1")


@pytest.mark.django_db
def test_permission_is_checked_for_this_user_and_this_object(specialist, specialist2, lead):
    ticket = make_ticket(requester=specialist)

    with pytest.raises(PermissionDenied):
        run_transition(model=Ticket, pk=ticket.pk, name="cancel", actor=specialist2)
    run_transition(model=Ticket, pk=ticket.pk, name="cancel", actor=specialist)

    assert Ticket.objects.get(pk=ticket.pk).state == "cancelled"
    assert DeniedAttempt.objects.filter(code="permission_denied", actor_label="spec2").count() == 1


@pytest.mark.django_db
def test_auditor_is_refused_every_transition_even_from_the_wrong_state(auditor, specialist):
    ticket = make_ticket(requester=specialist)
    for name in ("start", "finish", "cancel", "auto_close"):
        with pytest.raises(PermissionDenied):
            run_transition(model=Ticket, pk=ticket.pk, name=name, actor=auditor)
    assert Ticket.objects.get(pk=ticket.pk).state == "open"
    assert len(journal_rows(ticket)) == 1


@pytest.mark.django_db
def test_system_transition_is_journaled_with_its_label_and_refused_to_people(lead, specialist):
    ticket = make_ticket(requester=specialist)
    run_transition(model=Ticket, pk=ticket.pk, name="start", actor=specialist)

    with pytest.raises(PermissionDenied):
        run_transition(model=Ticket, pk=ticket.pk, name="auto_close", actor=lead)
    run_transition(model=Ticket, pk=ticket.pk, name="auto_close", actor=CELERY)

    last = journal_rows(ticket)[-1]
    assert (last.transition, last.actor_label, last.actor_id) == ("auto_close", "system:celery", None)


@pytest.mark.django_db
def test_unknown_or_internal_method_names_are_not_transitions(lead):
    ticket = make_ticket(requester=lead)
    for name in ("save", "delete", "refresh_from_db", "nope"):
        with pytest.raises(TransitionNotAllowed) as err:
            run_transition(model=Ticket, pk=ticket.pk, name=name, actor=lead)
        assert err.value.code == "unknown_transition"


@pytest.mark.django_db
def test_expected_state_mismatch_is_a_concurrent_change(specialist):
    ticket = make_ticket(requester=specialist)
    run_transition(model=Ticket, pk=ticket.pk, name="start", actor=specialist)

    with pytest.raises(ConcurrentChange):
        run_transition(model=Ticket, pk=ticket.pk, name="cancel", actor=specialist, expected_state="open")
    assert Ticket.objects.get(pk=ticket.pk).state == "working"


@pytest.mark.django_db
def test_buttons_show_only_transitions_this_user_may_take(specialist, lead, auditor):
    ticket = make_ticket(requester=specialist)
    assert available_transitions(ticket, specialist) == ["start", "cancel"]
    assert available_transitions(ticket, lead) == ["start", "cancel"]
    assert available_transitions(ticket, auditor) == []
    run_transition(model=Ticket, pk=ticket.pk, name="start", actor=specialist)
    ticket.refresh_from_db()
    assert available_transitions(ticket, lead) == ["finish", "cancel"]
    assert "auto_close" not in available_transitions(ticket, lead)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_second_transition_gets_concurrent_change_and_writes_nothing(specialist, lead):
    """Thread A holds the case row lock mid-transition; B's transition on the same case is refused at once."""
    ticket = make_ticket(requester=specialist)
    locked = threading.Event()
    release = threading.Event()
    outcome = {}

    def holder():
        try:
            with transaction.atomic():
                Ticket.objects.select_for_update().get(pk=ticket.pk)
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    def second():
        try:
            run_transition(model=Ticket, pk=ticket.pk, name="start", actor=lead)
            outcome["result"] = "done"
        except ConcurrentChange as err:
            outcome["result"] = err.code
        finally:
            connections.close_all()

    a = threading.Thread(target=holder)
    a.start()
    assert locked.wait(10)
    b = threading.Thread(target=second)
    b.start()
    b.join(10)
    release.set()
    a.join(10)

    assert outcome["result"] == "concurrent_change"
    assert Ticket.objects.get(pk=ticket.pk).state == "open"
    assert [r.transition for r in journal_rows(ticket)] == ["create"]
    assert DeniedAttempt.objects.filter(case_id=ticket.pk, code="concurrent_change").count() == 1
    assert connection.vendor == "postgresql"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_many_threads_racing_one_transition_make_exactly_one_change(specialist):
    ticket = make_ticket(requester=specialist)
    barrier = threading.Barrier(8)
    results = []

    def worker():
        try:
            barrier.wait(5)
            run_transition(model=Ticket, pk=ticket.pk, name="start", actor=specialist)
            results.append("ok")
        except (ConcurrentChange, TransitionNotAllowed) as err:
            results.append(err.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)

    assert results.count("ok") == 1
    assert set(results) <= {"ok", "concurrent_change", "transition_not_allowed"}
    assert [r.transition for r in journal_rows(ticket)] == ["create", "start"]
