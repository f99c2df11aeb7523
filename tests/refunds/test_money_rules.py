"""The refund invariant at every step that moves money, with disputes decided through their own services.

Before: an approval (first or second) checked only for an *open* dispute, and the submission checked
nothing, so a refund requested while the payment was clean still went out after a dispute on the
same payment was accepted or lost.
"""

import itertools

import pytest

from backoffice.actors import WEBHOOK_STRIPE
from backoffice.errors import DomainError
from backoffice.gateway.models import SandboxRefund
from backoffice.journal.models import DeniedAttempt, JournalEntry
from disputes.models import ReasonCode
from disputes.services import dispute_accept, dispute_create, dispute_mark_lost, dispute_mark_won
from refunds.models import Refund, RefundApproval
from refunds.selectors import refunds_needing_attention
from refunds.services import refund_approve, refund_reject, refund_request, refund_retry
from refunds.tasks import enqueue_submit, submit_refund, sweep_processing_now
from tests.invoices.factories import PaymentFactory

from .factories import RefundFactory, request_refund

pytestmark = pytest.mark.django_db
_ids = itertools.count(1)


def reload(obj):
    return type(obj).objects.get(pk=obj.pk)


def chargeback(payment, amount_minor):
    """A chargeback as Stripe reports it (the system actor), through the disputes service."""
    return dispute_create(actor=WEBHOOK_STRIPE, payment=payment, amount_minor=amount_minor, currency=payment.currency,
                          network="visa", reason_code=ReasonCode.objects.get(network="visa", code="13.1"),
                          psp="stripe", psp_dispute_id=f"dp_money_{next(_ids):06d}")


def lose(dispute, how, lead):
    if how == "accept":
        return dispute_accept(dispute_id=dispute.pk, actor=lead, reason="Customer is right.")
    return dispute_mark_lost(dispute_id=dispute.pk, actor=WEBHOOK_STRIPE)


def refused(call) -> str:
    with pytest.raises(DomainError) as err:
        call()
    return err.value.code


@pytest.mark.parametrize("how", ["accept", "mark_lost"])
def test_approval_after_a_dispute_on_the_payment_was_lost_is_refused(how, specialist, lead, lead2):
    payment = PaymentFactory(amount_minor=10000)
    refund = request_refund(requester=specialist, payment=payment, amount_minor=6000)
    dispute = lose(chargeback(payment, 5000), how, lead2)
    assert dispute.state in ("accepted", "lost")

    code = refused(lambda: refund_approve(refund=refund, actor=lead, reason="looks fine"))

    assert code == "refund_exceeds_refundable"
    assert reload(refund).state == "pending_approval" and not RefundApproval.objects.filter(refund=refund).exists()
    assert DeniedAttempt.objects.filter(case_id=refund.pk, action="approve", code="refund_exceeds_refundable").exists()
    assert SandboxRefund.objects.count() == 0


def test_the_second_approval_of_a_dual_approval_is_refused_after_a_lost_dispute(specialist, lead, lead2, commit):
    payment = PaymentFactory(amount_minor=200000)
    refund = request_refund(requester=specialist, payment=payment, amount_minor=150000)
    assert refund_approve(refund=refund, actor=lead, reason="first").state == "pending_second_approval"
    lose(chargeback(payment, 100000), "mark_lost", lead)

    with commit():
        code = refused(lambda: refund_approve(refund=refund, actor=lead2, reason="second"))

    assert code == "refund_exceeds_refundable"
    assert reload(refund).state == "pending_second_approval" and SandboxRefund.objects.count() == 0


def test_a_lost_dispute_that_still_fits_leaves_the_refund_approvable(specialist, lead, commit):
    payment = PaymentFactory(amount_minor=10000)
    refund = request_refund(requester=specialist, payment=payment, amount_minor=3000)
    dispute = lose(chargeback(payment, 5000), "mark_lost", lead)
    assert dispute.over_captured_at is None

    with commit():
        refund_approve(refund=refund, actor=lead, reason="fits")

    assert reload(refund).state == "succeeded"


def test_rejecting_the_refund_that_does_not_fit_frees_the_other(specialist, specialist2, lead, lead2, commit):
    payment = PaymentFactory(amount_minor=10000)
    first = request_refund(requester=specialist, payment=payment, amount_minor=3000)
    second = request_refund(requester=specialist2, payment=payment, amount_minor=2500)
    lose(chargeback(payment, 5000), "accept", lead2)  # 3000 + 2500 + 5000 > 10000: both blocked
    assert refused(lambda: refund_approve(refund=first, actor=lead, reason="a")) == "refund_exceeds_refundable"
    refund_reject(refund=second, actor=lead, reason="the chargeback covered it")
    with commit():
        refund_approve(refund=first, actor=lead, reason="fits now")

    assert (reload(first).state, reload(second).state) == ("succeeded", "rejected")


def test_the_submission_holds_an_approved_refund_while_a_dispute_is_open_and_sends_it_once_won(specialist, lead):
    payment = PaymentFactory(amount_minor=10000)
    refund = request_refund(requester=specialist, payment=payment, amount_minor=4000)
    refund_approve(refund=refund, actor=lead, reason="ok", submit=False)  # approved; the task has not run yet
    dispute = chargeback(payment, 10000)

    assert submit_refund.apply(args=(refund.pk,)).get() == "nothing_to_do"

    held = reload(refund)
    assert held.state == "approved" and held.needs_attention_at is not None
    assert "open dispute" in held.attention_reason
    assert SandboxRefund.objects.count() == 0
    assert held in refunds_needing_attention()
    assert JournalEntry.objects.filter(case_type="refund", case_id=refund.pk, transition="submission_held").exists()

    dispute_mark_won(dispute_id=dispute.pk, actor=WEBHOOK_STRIPE)
    assert enqueue_submit(refund.pk)

    sent = reload(refund)
    assert sent.state == "succeeded" and sent.needs_attention_at is None and sent.attention_reason == ""
    assert SandboxRefund.objects.get().attempts == 1


def test_the_submission_refuses_a_refund_a_lost_dispute_no_longer_leaves_room_for(specialist, lead, lead2):
    payment = PaymentFactory(amount_minor=10000)
    refund = request_refund(requester=specialist, payment=payment, amount_minor=7000)
    refund_approve(refund=refund, actor=lead, reason="ok", submit=False)
    dispute = lose(chargeback(payment, 6000), "accept", lead2)
    assert reload(dispute).over_captured_minor == 3000

    sweep_processing_now(now=reload(refund).updated_at.replace(year=2100))  # the sweeper finds it approved

    held = reload(refund)
    assert held.state == "approved" and held.needs_attention_at is not None
    assert "more than" in held.attention_reason and SandboxRefund.objects.count() == 0


def test_a_retry_is_refused_when_a_lost_dispute_took_the_room(specialist, lead):
    payment = PaymentFactory(amount_minor=10000)
    failed = RefundFactory(payment=payment, amount_minor=6000, state="failed", requester=specialist)
    lose(chargeback(payment, 5000), "mark_lost", lead)

    assert refused(lambda: refund_retry(refund=failed, actor=lead, reason="again")) == "refund_exceeds_refundable"
    assert reload(failed).state == "failed"


def test_a_retry_for_a_generation_someone_already_retried_is_a_concurrent_change(specialist, lead, lead2, commit):
    refund = RefundFactory(amount_minor=2513, state="failed", requester=specialist)  # …13: the sandbox declines
    stale = reload(refund)
    with commit():
        refund_retry(refund=refund, actor=lead, reason="again")  # fails again at the sandbox
    assert reload(refund).state == "failed" and reload(refund).psp_attempt == 2

    assert refused(lambda: refund_retry(refund=stale, actor=lead2, reason="me too")) == "concurrent_change"
    assert SandboxRefund.objects.count() == 1
    with commit():
        refund_retry(refund=reload(refund), actor=lead2, reason="a decision on the new failure")
    assert reload(refund).psp_attempt == 3 and SandboxRefund.objects.count() == 2


def test_a_new_request_is_refused_while_a_flagged_loss_leaves_nothing(specialist):
    payment = PaymentFactory(amount_minor=10000)
    RefundFactory(payment=payment, amount_minor=8000, state="succeeded", psp_refund_id="re_done_1")
    dispute = chargeback(payment, 5000)
    dispute_mark_lost(dispute_id=dispute.pk, actor=WEBHOOK_STRIPE)

    code = refused(lambda: refund_request(payment=payment, requester=specialist, amount_minor=100,
                                          reason="goodwill"))
    assert code == "refund_exceeds_refundable"
    assert Refund.objects.filter(payment=payment).count() == 1
