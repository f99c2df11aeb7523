"""Refund services: request, maker-checker decisions, cancel, retry; refusals with stable codes."""

import pytest

from backoffice.cases.transitions import available_transitions
from backoffice.errors import (
    BusinessRuleViolation,
    ConcurrentChange,
    IdempotencyMismatch,
    InvalidInput,
    PermissionDenied,
    TransitionNotAllowed,
)
from backoffice.gateway.models import SandboxRefund
from backoffice.journal.models import DeniedAttempt, JournalEntry
from refunds.models import Refund, RefundApproval
from refunds.services import (
    refund_approve,
    refund_cancel,
    refund_reject,
    refund_request,
    refund_retry,
    refund_transition,
)
from tests.invoices.factories import PaymentFactory

from .factories import make_dispute, needs_disputes, request_refund

pytestmark = pytest.mark.django_db


def transitions_of(refund):
    return list(JournalEntry.objects.filter(case_type="refund", case_id=refund.pk).order_by("seq")
                .values_list("transition", "source_state", "target_state", "actor_label"))


def reload(refund):
    return Refund.objects.get(pk=refund.pk)


# ---------------------------------------------------------------- requesting

def test_a_request_waits_for_approval_in_the_payments_currency_with_a_journaled_creation(specialist):
    payment = PaymentFactory(currency="EUR", amount_minor=20000)

    refund = refund_request(payment=payment, requester=specialist, amount_minor=1250, reason="service_outage",
                            note="GPU outage on the 12th")

    assert refund.reference == f"RFD-{refund.pk:06d}"
    assert (refund.state, refund.currency, refund.amount_minor) == ("pending_approval", "EUR", 1250)
    assert refund.requester == specialist and refund.assignee == specialist
    assert refund.internal_due_at is not None
    assert transitions_of(refund) == [("create", "", "pending_approval", "spec1")]
    assert SandboxRefund.objects.count() == 0


def test_a_request_above_what_is_left_is_refused_and_says_how_much_is_left(specialist, specialist2):
    payment = PaymentFactory(amount_minor=10000)
    request_refund(requester=specialist, payment=payment, amount_minor=6000)

    with pytest.raises(BusinessRuleViolation) as err:
        refund_request(payment=payment, requester=specialist2, amount_minor=6000, reason="goodwill")

    assert err.value.code == "refund_exceeds_refundable"
    assert "$40.00 left" in err.value.message and "$100.00 captured" in err.value.message
    assert err.value.extra["refundable_minor"] == 4000
    assert Refund.objects.filter(payment=payment).count() == 1
    assert DeniedAttempt.objects.filter(case_type="refund", action="create", code="refund_exceeds_refundable",
                                        actor_label="spec2").count() == 1


def test_jpy_amounts_are_formatted_without_decimals_in_the_refusal(specialist):
    payment = PaymentFactory(currency="JPY", amount_minor=1500)

    with pytest.raises(BusinessRuleViolation) as err:
        refund_request(payment=payment, requester=specialist, amount_minor=2000, reason="goodwill")

    assert "¥1,500 left" in err.value.message


def test_rejected_cancelled_and_failed_refunds_give_their_amount_back(specialist, lead, commit):
    payment = PaymentFactory(amount_minor=10000)
    first = request_refund(requester=specialist, payment=payment, amount_minor=10000)
    refund_reject(refund=first, actor=lead, reason="Not eligible")
    second = request_refund(requester=specialist, payment=payment, amount_minor=10000, confirm_duplicate=True)
    refund_cancel(refund=second, actor=specialist, reason="Customer withdrew")
    third = request_refund(requester=specialist, payment=payment, amount_minor=9913)  # the sandbox declines …13
    with commit():
        refund_approve(refund=third, actor=lead, reason="ok")
    assert reload(third).state == "failed"

    fourth = request_refund(requester=specialist, payment=payment, amount_minor=10000, confirm_duplicate=True)

    assert fourth.state == "pending_approval"


@pytest.mark.parametrize(("amount", "code"), [(0, "amount_not_positive"), (-5, "amount_not_positive"),
                                              (12.5, "invalid_amount"), (True, "invalid_amount"),
                                              ("100", "invalid_amount")])
def test_bad_amounts_are_invalid_input_and_nothing_is_saved(specialist, amount, code):
    with pytest.raises(InvalidInput) as err:
        refund_request(payment=PaymentFactory(), requester=specialist, amount_minor=amount, reason="goodwill")
    assert err.value.code == code
    assert Refund.objects.count() == 0


def test_unknown_reason_and_other_currency_are_refused(specialist):
    payment = PaymentFactory()
    with pytest.raises(InvalidInput) as err:
        refund_request(payment=payment, requester=specialist, amount_minor=100, reason="because")
    assert err.value.code == "invalid_reason"
    with pytest.raises(InvalidInput) as err:
        refund_request(payment=payment, requester=specialist, amount_minor=100, reason="goodwill", currency="EUR")
    assert err.value.code == "currency_mismatch"


def test_auditors_do_not_request_refunds(auditor):
    with pytest.raises(PermissionDenied):
        refund_request(payment=PaymentFactory(), requester=auditor, amount_minor=100, reason="goodwill")


def test_the_same_idempotency_key_returns_the_first_refund_and_another_body_is_refused(specialist):
    payment = PaymentFactory()
    first = refund_request(payment=payment, requester=specialist, amount_minor=500, reason="goodwill",
                           idempotency_key="k-1")

    again = refund_request(payment=payment, requester=specialist, amount_minor=500, reason="goodwill",
                           idempotency_key="k-1")
    with pytest.raises(IdempotencyMismatch):
        refund_request(payment=payment, requester=specialist, amount_minor=700, reason="goodwill",
                       idempotency_key="k-1")

    assert again.pk == first.pk
    assert Refund.objects.count() == 1


@needs_disputes
@pytest.mark.parametrize("state", ["inquiry", "needs_response", "under_review"])
def test_a_payment_with_an_open_dispute_is_not_refunded(specialist, state):
    payment = PaymentFactory()
    make_dispute(payment=payment, state=state, amount_minor=3000)

    with pytest.raises(BusinessRuleViolation) as err:
        refund_request(payment=payment, requester=specialist, amount_minor=100, reason="goodwill")

    assert err.value.code == "payment_disputed"
    assert Refund.objects.count() == 0


@needs_disputes
def test_lost_dispute_amounts_count_against_the_refundable_amount(specialist):
    payment = PaymentFactory(amount_minor=10000)
    make_dispute(payment=payment, state="lost", amount_minor=7000)

    with pytest.raises(BusinessRuleViolation) as err:
        refund_request(payment=payment, requester=specialist, amount_minor=3001, reason="goodwill")
    refund = refund_request(payment=payment, requester=specialist, amount_minor=3000, reason="goodwill")

    assert err.value.code == "refund_exceeds_refundable" and "$30.00 left" in err.value.message
    assert refund.state == "pending_approval"


# ---------------------------------------------------------------- approving

def test_a_lead_approves_below_the_threshold_and_the_psp_refunds_once(specialist, lead, commit):
    refund = request_refund(requester=specialist, amount_minor=2500)

    with commit() as callbacks:
        refund_approve(refund=refund, actor=lead, reason="Duplicate capture confirmed")
        assert reload(refund).state == "approved" and SandboxRefund.objects.count() == 0  # nothing before commit
    assert len(callbacks) == 1

    refund = reload(refund)
    assert refund.state == "succeeded"
    assert refund.psp_refund_id.startswith("sbx_re_") and refund.succeeded_at is not None
    assert [t[0] for t in transitions_of(refund)] == ["create", "approve", "submit", "mark_succeeded"]
    assert transitions_of(refund)[2][3] == "system:celery"
    approval = RefundApproval.objects.get(refund=refund)
    assert (approval.approver, approval.step, approval.decision, approval.reason) == (
        lead, 1, "approved", "Duplicate capture confirmed")
    psp = SandboxRefund.objects.get()
    assert (psp.idempotency_key, psp.amount_minor, psp.attempts) == (refund.reference, 2500, 1)


def test_at_the_dual_threshold_a_second_different_approver_is_needed(specialist, lead, lead2, commit):
    payment = PaymentFactory(amount_minor=300000)
    refund = request_refund(requester=specialist, payment=payment, amount_minor=100000)  # USD threshold: 1,000.00

    with commit() as callbacks:
        refund_approve(refund=refund, actor=lead, reason="Invoice checked")
    assert reload(refund).state == "pending_second_approval" and callbacks == []
    assert SandboxRefund.objects.count() == 0
    with pytest.raises(PermissionDenied) as err:
        refund_approve(refund=refund, actor=lead, reason="Me again")
    assert err.value.code == "same_approver"
    with pytest.raises(PermissionDenied) as err:
        refund_reject(refund=refund, actor=lead, reason="Changed my mind")
    assert err.value.code == "same_approver"

    with commit():
        refund_approve(refund=refund, actor=lead2, reason="Second look: fine")

    refund = reload(refund)
    assert refund.state == "succeeded"
    assert list(refund.approvals.order_by("step").values_list("approver__username", "step", "decision")) == [
        ("lead1", 1, "approved"), ("lead2", 2, "approved")]
    assert [t[:3] for t in transitions_of(refund)][1:3] == [
        ("approve", "pending_approval", "pending_second_approval"),
        ("approve", "pending_second_approval", "approved")]
    assert SandboxRefund.objects.count() == 1


def test_just_below_the_dual_threshold_one_approval_is_enough(specialist, lead, commit):
    refund = request_refund(requester=specialist, amount_minor=99999, payment=PaymentFactory(amount_minor=100000))
    with commit():
        refund_approve(refund=refund, actor=lead, reason="ok")
    assert reload(refund).state == "succeeded"


def test_the_second_approver_may_reject(specialist, lead, lead2):
    refund = request_refund(requester=specialist, amount_minor=150000, payment=PaymentFactory(amount_minor=200000))
    refund_approve(refund=refund, actor=lead, reason="fine by me")

    refund_reject(refund=refund, actor=lead2, reason="Usage logs show the service was used")

    refund = reload(refund)
    assert refund.state == "rejected"
    assert list(refund.approvals.values_list("step", "decision")) == [(1, "approved"), (2, "rejected")]


@pytest.mark.parametrize("decide", [refund_approve, refund_reject])
def test_nobody_decides_their_own_request_not_even_a_superuser(lead, superuser_lead, decide):
    for requester in (lead, superuser_lead):
        refund = request_refund(requester=requester, amount_minor=1000)
        with pytest.raises(PermissionDenied) as err:
            decide(refund=refund, actor=requester, reason="Looks right to me")
        assert err.value.code == "self_approval_forbidden"
        assert reload(refund).state == "pending_approval"
        assert not RefundApproval.objects.filter(refund=refund).exists()
        assert DeniedAttempt.objects.filter(case_id=refund.pk, code="self_approval_forbidden").count() == 1


def test_specialists_have_a_zero_limit_and_leads_their_own(specialist, specialist2, lead):
    small = request_refund(requester=specialist, amount_minor=100)
    with pytest.raises(PermissionDenied) as err:
        refund_approve(refund=small, actor=specialist2, reason="ok")
    assert err.value.code == "approval_limit_exceeded"

    big = request_refund(requester=specialist, amount_minor=500001, payment=PaymentFactory(amount_minor=600000))
    with pytest.raises(PermissionDenied) as err:
        refund_approve(refund=big, actor=lead, reason="ok")
    assert err.value.code == "approval_limit_exceeded"
    assert "$5,000.01 is above your approval limit of $5,000.00" in err.value.message


def test_no_limit_for_the_currency_means_refused(specialist, lead):
    refund = request_refund(requester=specialist, amount_minor=100,
                            payment=PaymentFactory(currency="JPY", amount_minor=5000))
    with pytest.raises(PermissionDenied) as err:
        refund_approve(refund=refund, actor=lead, reason="ok")
    assert err.value.code == "no_approval_limit"


@pytest.mark.parametrize("reason", ["", "   "])
@pytest.mark.parametrize("decide", [refund_approve, refund_reject])
def test_every_decision_takes_a_reason(specialist, lead, decide, reason):
    refund = request_refund(requester=specialist)
    with pytest.raises(InvalidInput) as err:
        decide(refund=refund, actor=lead, reason=reason)
    assert err.value.code == "reason_required"
    assert reload(refund).state == "pending_approval"


def test_auditors_take_no_transition(specialist, auditor):
    refund = request_refund(requester=specialist)
    for name in ("approve", "reject", "cancel", "retry", "submit", "mark_succeeded"):
        with pytest.raises(PermissionDenied):
            refund_transition(case_id=refund.pk, name=name, actor=auditor, reason="audit")
    assert reload(refund).state == "pending_approval"


def test_system_transitions_are_refused_to_people(specialist, lead):
    refund = request_refund(requester=specialist)
    with pytest.raises(PermissionDenied):
        refund_transition(case_id=refund.pk, name="submit", actor=lead)
    with pytest.raises(TransitionNotAllowed) as err:
        refund_transition(case_id=refund.pk, name="delete", actor=lead)
    assert err.value.code == "unknown_transition"


def test_deciding_from_a_stale_page_is_a_concurrent_change(specialist, lead, lead2):
    refund = request_refund(requester=specialist)
    refund_reject(refund=refund, actor=lead2, reason="no")
    with pytest.raises(ConcurrentChange):
        refund_transition(case_id=refund.pk, name="approve", actor=lead, reason="ok",
                          data={"expected_state": "pending_approval"})
    with pytest.raises(TransitionNotAllowed):
        refund_approve(refund=refund, actor=lead, reason="ok")


@needs_disputes
def test_approval_is_refused_once_the_payment_is_disputed(specialist, lead):
    refund = request_refund(requester=specialist)
    make_dispute(payment=refund.payment, state="needs_response", amount_minor=1000)

    with pytest.raises(BusinessRuleViolation) as err:
        refund_approve(refund=refund, actor=lead, reason="ok")

    assert err.value.code == "payment_disputed"
    assert reload(refund).state == "pending_approval"
    assert not RefundApproval.objects.exists()


# ---------------------------------------------------------------- cancel

def test_the_requester_or_a_lead_cancels_others_do_not(specialist, specialist2, lead):
    mine = request_refund(requester=specialist)
    with pytest.raises(PermissionDenied):
        refund_cancel(refund=mine, actor=specialist2)
    refund_cancel(refund=mine, actor=specialist, reason="customer withdrew")
    assert reload(mine).state == "cancelled"

    approved = request_refund(requester=specialist)
    refund_approve(refund=approved, actor=lead, reason="ok", submit=False)
    assert reload(approved).state == "approved"
    refund_cancel(refund=approved, actor=lead, reason="Paid by bank transfer instead")
    assert reload(approved).state == "cancelled"
    assert SandboxRefund.objects.count() == 0


def test_a_refund_sent_to_the_psp_can_no_longer_be_cancelled(specialist, lead, commit):
    refund = request_refund(requester=specialist, amount_minor=1066)  # the sandbox answers "pending"
    with commit():
        refund_approve(refund=refund, actor=lead, reason="ok")
    assert reload(refund).state == "processing"
    with pytest.raises(TransitionNotAllowed):
        refund_cancel(refund=refund, actor=specialist)


# ---------------------------------------------------------------- failure and retry

def test_a_declined_refund_fails_and_a_lead_retries_it_with_a_new_psp_key(specialist, lead, commit):
    refund = request_refund(requester=specialist, amount_minor=2013)  # the sandbox declines …13: expired_card
    with commit():
        refund_approve(refund=refund, actor=lead, reason="ok")
    refund = reload(refund)
    assert (refund.state, refund.failure_code) == ("failed", "expired_card")
    assert refund.failure_message

    with pytest.raises(PermissionDenied):
        refund_retry(refund=refund, actor=specialist, reason="try again")
    with pytest.raises(InvalidInput) as err:
        refund_retry(refund=refund, actor=lead, reason="")
    assert err.value.code == "reason_required"
    with commit():
        refund_retry(refund=refund, actor=lead, reason="Customer updated the card")

    refund = reload(refund)
    assert (refund.state, refund.psp_attempt, refund.failure_code) == ("failed", 2, "expired_card")
    assert list(SandboxRefund.objects.order_by("id").values_list("idempotency_key", flat=True)) == [
        refund.reference, f"{refund.reference}-attempt-2"]
    assert [t[0] for t in transitions_of(refund)] == [
        "create", "approve", "submit", "mark_failed", "retry", "mark_failed"]


def test_a_retry_must_still_fit_in_what_is_refundable(specialist, specialist2, lead, commit):
    payment = PaymentFactory(amount_minor=10000)
    failed = request_refund(requester=specialist, payment=payment, amount_minor=6013)
    with commit():
        refund_approve(refund=failed, actor=lead, reason="ok")
    request_refund(requester=specialist2, payment=payment, amount_minor=5000)

    with pytest.raises(BusinessRuleViolation) as err:
        refund_retry(refund=failed, actor=lead, reason="again")

    assert err.value.code == "refund_exceeds_refundable"
    assert reload(failed).state == "failed"


@needs_disputes
def test_a_retry_is_refused_while_the_payment_is_disputed(specialist, lead, commit):
    refund = request_refund(requester=specialist, amount_minor=1013)
    with commit():
        refund_approve(refund=refund, actor=lead, reason="ok")
    make_dispute(payment=refund.payment, state="inquiry", amount_minor=1000)

    with pytest.raises(BusinessRuleViolation) as err:
        refund_retry(refund=refund, actor=lead, reason="again")

    assert err.value.code == "payment_disputed"


# ---------------------------------------------------------------- buttons

def test_buttons_show_only_what_this_user_may_do(specialist, specialist2, lead, auditor, commit):
    refund = request_refund(requester=specialist)
    assert available_transitions(refund, specialist) == ["cancel"]
    assert available_transitions(refund, specialist2) == []  # limit 0
    assert available_transitions(refund, lead) == ["approve", "reject", "cancel"]
    assert available_transitions(refund, auditor) == []

    own = request_refund(requester=lead)
    assert available_transitions(own, lead) == ["cancel"]

    failed = request_refund(requester=specialist, amount_minor=1013)
    with commit():
        refund_approve(refund=failed, actor=lead, reason="ok")
    assert available_transitions(reload(failed), lead) == ["retry"]
    assert available_transitions(reload(failed), specialist) == []
