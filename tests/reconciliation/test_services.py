"""Working on breaks: the FSM through the shared transition service, and who may write off how much."""

from __future__ import annotations

import pytest

from backoffice.actors import CELERY
from backoffice.cases.transitions import available_transitions
from backoffice.errors import InvalidInput, PermissionDenied, TransitionNotAllowed
from backoffice.journal.models import DeniedAttempt, JournalEntry
from reconciliation.models import Break, WriteOffDecision
from reconciliation.services import (
    break_approve_write_off,
    break_auto_resolve,
    break_investigate,
    break_open,
    break_reject_write_off,
    break_request_write_off,
    break_resolve,
    break_transition,
)

_refs = iter(range(1, 10_000))


def make_break(*, amount_minor: int = 1_000, currency: str = "USD", kind: str = "amount_mismatch") -> Break:
    return break_open(kind=kind, psp="stripe", psp_reference=f"ch_brk{next(_refs):06d}", amount_minor=amount_minor,
                      currency=currency, detail="planted")


def requested(*, by, amount_minor: int = 1_000, currency: str = "USD") -> Break:
    brk = make_break(amount_minor=amount_minor, currency=currency)
    break_investigate(brk=brk, actor=by)
    return break_request_write_off(brk=brk, actor=by, reason="Not worth chasing")


def reload(brk: Break) -> Break:
    return Break.objects.get(pk=brk.pk)


def test_resolve_records_the_resolution_and_journals_each_step(specialist):
    brk = make_break()
    break_investigate(brk=brk, actor=specialist)
    break_resolve(brk=brk, actor=specialist, resolution="timing_difference", reason="Settled next batch")
    brk = reload(brk)
    assert (brk.state, brk.resolution) == ("resolved", "timing_difference") and brk.closed_at
    assert list(JournalEntry.objects.filter(case_type="break", case_id=brk.pk).order_by("seq")
                .values_list("transition", flat=True)) == ["create", "investigate", "resolve"]


def test_resolve_needs_a_known_resolution(specialist):
    brk = make_break()
    break_investigate(brk=brk, actor=specialist)
    with pytest.raises(InvalidInput) as err:
        break_transition(case_id=brk.pk, name="resolve", actor=specialist, data={"resolution": "magic"})
    assert err.value.code == "invalid_resolution" and reload(brk).state == "investigating"


def test_resolve_only_from_investigating(specialist):
    brk = make_break()
    with pytest.raises(TransitionNotAllowed):
        break_resolve(brk=brk, actor=specialist, resolution="psp_corrected")


@pytest.mark.parametrize("decide", [break_approve_write_off, break_reject_write_off])
def test_nobody_decides_their_own_write_off_superusers_included(decide, superuser_lead):
    brk = requested(by=superuser_lead, amount_minor=500)
    with pytest.raises(PermissionDenied) as err:
        decide(brk=brk, actor=superuser_lead, reason="Looks right to me")
    assert err.value.code == "self_approval_forbidden"
    assert reload(brk).state == "write_off_requested"
    assert not WriteOffDecision.objects.exists()
    assert DeniedAttempt.objects.filter(case_id=brk.pk, code="self_approval_forbidden").count() == 1


def test_a_specialist_approves_within_their_limit_only(specialist, specialist2):
    small = requested(by=specialist, amount_minor=2_500)  # 25.00 USD: the specialists' limit
    break_approve_write_off(brk=small, actor=specialist2, reason="Small difference")
    assert reload(small).state == "written_off"

    big = requested(by=specialist, amount_minor=2_501)
    with pytest.raises(PermissionDenied) as err:
        break_approve_write_off(brk=big, actor=specialist2, reason="ok")
    assert err.value.code == "approval_limit_exceeded"
    assert "$25.01 is above your write-off limit of $25.00" in err.value.message
    assert reload(big).state == "write_off_requested"


def test_above_a_specialists_limit_a_lead_decides_within_theirs(specialist, lead):
    brk = requested(by=specialist, amount_minor=100_000)
    break_approve_write_off(brk=brk, actor=lead, reason="Written off after review")
    brk = reload(brk)
    assert brk.state == "written_off" and brk.write_off_reason == "Not worth chasing"
    decision = WriteOffDecision.objects.get(brk=brk)
    assert (decision.approver, decision.approved) == (lead, True)

    too_big = requested(by=specialist, amount_minor=100_001)
    with pytest.raises(PermissionDenied) as err:
        break_approve_write_off(brk=too_big, actor=lead, reason="ok")
    assert err.value.code == "approval_limit_exceeded"


def test_a_lead_cannot_approve_a_write_off_they_requested_another_lead_can(lead, lead2):
    brk = requested(by=lead, amount_minor=50_000)
    with pytest.raises(PermissionDenied):
        break_approve_write_off(brk=brk, actor=lead, reason="mine")
    break_approve_write_off(brk=brk, actor=lead2, reason="Agreed")
    assert reload(brk).state == "written_off"


def test_no_limit_for_the_currency_means_refused(specialist, lead):
    brk = requested(by=specialist, amount_minor=100, currency="JPY")
    with pytest.raises(PermissionDenied) as err:
        break_approve_write_off(brk=brk, actor=lead, reason="ok")
    assert err.value.code == "no_approval_limit"


def test_rejecting_sends_it_back_to_investigating(specialist, lead):
    brk = requested(by=specialist, amount_minor=5_000)
    break_reject_write_off(brk=brk, actor=lead, reason="Chase the PSP first")
    assert reload(brk).state == "investigating"
    assert WriteOffDecision.objects.get(brk=brk).approved is False


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_write_off_request_takes_a_reason(specialist, reason):
    brk = make_break()
    break_investigate(brk=brk, actor=specialist)
    with pytest.raises(InvalidInput) as err:
        break_request_write_off(brk=brk, actor=specialist, reason=reason)
    assert err.value.code == "reason_required"


def test_auditors_and_other_system_actors_take_no_transition(auditor):
    brk = make_break()
    for name in ("investigate", "resolve", "request_write_off", "approve_write_off", "auto_resolve"):
        with pytest.raises((PermissionDenied, TransitionNotAllowed)):
            break_transition(case_id=brk.pk, name=name, actor=auditor, reason="x", data={"resolution": "psp_corrected"})
    with pytest.raises(PermissionDenied):
        break_transition(case_id=brk.pk, name="auto_resolve", actor=CELERY)
    assert reload(brk).state == "open"


def test_only_the_reconciliation_closes_a_break_by_itself(specialist):
    brk = make_break(kind="not_settled")
    with pytest.raises(PermissionDenied):
        break_transition(case_id=brk.pk, name="auto_resolve", actor=specialist)
    break_auto_resolve(brk=brk, settlement_import_id=None, reason="settled")
    assert reload(brk).state == "auto_resolved"


def test_the_buttons_follow_the_policy(specialist, specialist2, lead, auditor):
    brk = requested(by=specialist, amount_minor=10_000)
    assert available_transitions(brk, specialist) == []
    assert available_transitions(brk, specialist2) == []  # above the specialists' limit
    assert available_transitions(brk, lead) == ["approve_write_off", "reject_write_off"]
    assert available_transitions(brk, auditor) == []


def test_the_same_break_is_found_once():
    first = break_open(kind="duplicate", psp="adyen", psp_reference="PSAME", amount_minor=10, currency="EUR",
                       detail="x")
    again = break_open(kind="duplicate", psp="adyen", psp_reference="PSAME", amount_minor=10, currency="EUR",
                       detail="x")
    assert first is not None and again is None and Break.objects.count() == 1
