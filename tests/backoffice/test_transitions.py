"""The shared transition service: permission → state → transition → journal, refusals recorded."""

import threading

import pytest
from django.db import connection, connections, transaction

from backoffice.actors import CELERY
from backoffice.cases.transitions import Transition, TransitionRun, available_transitions, run_transition
from backoffice.errors import BusinessRuleViolation, ConcurrentChange, PermissionDenied, TransitionNotAllowed
from backoffice.journal.models import DeniedAttempt, JournalEntry
from tests.backoffice.factories import make_ticket
from tests.testapp.models import Ticket
from tests.testapp.transitions import ticket_step


def journal_rows(ticket):
    return list(JournalEntry.objects.filter(case_type="ticket", case_id=ticket.pk).order_by("seq"))


@pytest.mark.django_db
def test_allowed_transition_changes_state_and_writes_one_journal_row(specialist):
    ticket = make_ticket(requester=specialist)

    result = run_transition(ticket_step("start"), pk=ticket.pk, actor=specialist, reason="on it")

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
        run_transition(ticket_step("finish"), pk=ticket.pk, actor=lead)

    assert err.value.code == "transition_not_allowed"
    assert Ticket.objects.get(pk=ticket.pk).state == "open"
    assert len(journal_rows(ticket)) == 1
    denied = DeniedAttempt.objects.get(case_id=ticket.pk)
    assert (denied.action, denied.code, denied.actor_label) == ("finish", "transition_not_allowed", "lead1")


@pytest.mark.django_db
def test_permission_is_checked_for_this_user_and_this_object(specialist, specialist2, lead):
    ticket = make_ticket(requester=specialist)

    with pytest.raises(PermissionDenied):
        run_transition(ticket_step("cancel"), pk=ticket.pk, actor=specialist2)
    run_transition(ticket_step("cancel"), pk=ticket.pk, actor=specialist)

    assert Ticket.objects.get(pk=ticket.pk).state == "cancelled"
    assert DeniedAttempt.objects.filter(code="permission_denied", actor_label="spec2").count() == 1


@pytest.mark.django_db
def test_auditor_is_refused_every_transition_even_from_the_wrong_state(auditor, specialist):
    ticket = make_ticket(requester=specialist)
    for name in ("start", "finish", "cancel", "auto_close"):
        with pytest.raises(PermissionDenied):
            run_transition(ticket_step(name), pk=ticket.pk, actor=auditor)
    assert Ticket.objects.get(pk=ticket.pk).state == "open"
    assert len(journal_rows(ticket)) == 1


@pytest.mark.django_db
def test_system_transition_is_journaled_with_its_label_and_refused_to_people(lead, specialist):
    ticket = make_ticket(requester=specialist)
    run_transition(ticket_step("start"), pk=ticket.pk, actor=specialist)

    with pytest.raises(PermissionDenied):
        run_transition(ticket_step("auto_close"), pk=ticket.pk, actor=lead)
    run_transition(ticket_step("auto_close"), pk=ticket.pk, actor=CELERY)

    last = journal_rows(ticket)[-1]
    assert (last.transition, last.actor_label, last.actor_id) == ("auto_close", "system:celery", None)


@pytest.mark.django_db
def test_unknown_or_internal_method_names_are_not_transitions(lead):
    ticket = make_ticket(requester=lead)
    for name in ("save", "delete", "refresh_from_db", "nope"):
        with pytest.raises(TransitionNotAllowed) as err:
            run_transition(ticket_step(name), pk=ticket.pk, actor=lead)
        assert err.value.code == "unknown_transition"


@pytest.mark.django_db
def test_expected_state_mismatch_is_a_concurrent_change(specialist):
    ticket = make_ticket(requester=specialist)
    run_transition(ticket_step("start"), pk=ticket.pk, actor=specialist)

    with pytest.raises(ConcurrentChange):
        run_transition(ticket_step("cancel"), pk=ticket.pk, actor=specialist, expected_state="open")
    assert Ticket.objects.get(pk=ticket.pk).state == "working"


def _refuse_urgent(run: TransitionRun) -> None:
    if run.params.get("urgent"):
        raise BusinessRuleViolation(f"{run.case.reference} is urgent: a team lead starts it.", code="urgent_case")
    run.context["checked"] = "not urgent"


def _retitle(run: TransitionRun) -> None:
    stored = Ticket.objects.get(pk=run.case.pk)  # the saved row, read inside the transaction that holds it
    run.context.update(in_transaction=connection.in_atomic_block, saved_state=stored.state)
    Ticket.objects.filter(pk=run.case.pk).update(title=f"{stored.title} (started by {run.actor.username})")


def _refuse_after_saving(run: TransitionRun) -> None:
    raise BusinessRuleViolation("The follow-up could not be written.", code="follow_up_failed")


START_WITH_HOOKS = Transition(model=Ticket, name="start", guards=(_refuse_urgent,), effects=(_retitle,),
                              journal=lambda run: {"source_seen": run.source, "title": run.case.title})


@pytest.mark.django_db
def test_a_guard_that_refuses_records_the_denial_and_changes_nothing(specialist):
    ticket = make_ticket(requester=specialist)

    with pytest.raises(BusinessRuleViolation) as err:
        START_WITH_HOOKS.run(pk=ticket.pk, actor=specialist, params={"urgent": True})

    assert err.value.code == "urgent_case"
    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.state, stored.title) == ("open", ticket.title)  # neither the transition nor the effect ran
    assert [r.transition for r in journal_rows(ticket)] == ["create"]
    denied = DeniedAttempt.objects.get(case_id=ticket.pk)
    assert (denied.action, denied.code, denied.actor_label) == ("start", "urgent_case", "spec1")


@pytest.mark.django_db
def test_effects_run_after_the_save_under_the_lock_and_the_hooks_facts_land_in_the_journal_row(specialist):
    ticket = make_ticket(requester=specialist)

    result = run_transition(START_WITH_HOOKS, pk=ticket.pk, actor=specialist, reason="on it",
                            params={"urgent": False})

    assert result.state == "working"
    assert Ticket.objects.get(pk=ticket.pk).title == f"{ticket.title} (started by spec1)"
    row = journal_rows(ticket)[-1]
    assert (row.transition, row.source_state, row.target_state, row.reason) == ("start", "open", "working", "on it")
    assert row.context == {"source_seen": "open", "title": ticket.title, "checked": "not urgent",
                           "in_transaction": True, "saved_state": "working"}


@pytest.mark.django_db
def test_an_effect_that_refuses_rolls_the_transition_back_and_is_recorded(specialist):
    ticket = make_ticket(requester=specialist)
    failing = Transition(model=Ticket, name="start", effects=(_refuse_after_saving,))

    with pytest.raises(BusinessRuleViolation):
        failing.run(pk=ticket.pk, actor=specialist)

    assert Ticket.objects.get(pk=ticket.pk).state == "open"
    assert [r.transition for r in journal_rows(ticket)] == ["create"]
    assert DeniedAttempt.objects.get(case_id=ticket.pk).code == "follow_up_failed"


@pytest.mark.django_db
def test_the_callers_params_are_read_only_for_the_hooks(specialist):
    ticket = make_ticket(requester=specialist)

    def meddle(run: TransitionRun) -> None:
        run.params["urgent"] = True

    params = {"urgent": False}
    with pytest.raises(TypeError):
        Transition(model=Ticket, name="start", guards=(meddle,)).run(pk=ticket.pk, actor=specialist, params=params)
    assert params == {"urgent": False} and Ticket.objects.get(pk=ticket.pk).state == "open"


@pytest.mark.django_db
def test_buttons_show_only_transitions_this_user_may_take(specialist, lead, auditor):
    ticket = make_ticket(requester=specialist)
    assert available_transitions(ticket, specialist) == ["start", "cancel"]
    assert available_transitions(ticket, lead) == ["start", "cancel"]
    assert available_transitions(ticket, auditor) == []
    run_transition(ticket_step("start"), pk=ticket.pk, actor=specialist)
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
            run_transition(ticket_step("start"), pk=ticket.pk, actor=lead)
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
            run_transition(ticket_step("start"), pk=ticket.pk, actor=specialist)
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
