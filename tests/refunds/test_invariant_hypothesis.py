"""Property: whatever people and the PSP do, a payment's held refunds plus its lost disputes never exceed
what was captured, and what the selector says is left is exactly the difference."""

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backoffice.errors import DomainError
from backoffice.gateway import RefundResult, RefundStatus
from refunds.models import RELEASED_STATES, Refund
from refunds.selectors import DISPUTE_LOST_STATES, payment_refundable_minor
from refunds.services import (
    refund_approve,
    refund_cancel,
    refund_record_psp_result,
    refund_reject,
    refund_request,
    refund_retry,
)
from tests.invoices.factories import PaymentFactory

from .factories import dispute_model, make_dispute, set_dispute_state

CAPTURED = 10000
EXPECTED_REFUSALS = {
    "refund_exceeds_refundable", "payment_disputed", "transition_not_allowed", "self_approval_forbidden",
    "same_approver", "approval_limit_exceeded", "permission_denied",
}

# Amount endings pick the sandbox's outcome: …00 succeeds, …13 is declined, …66 stays pending (processing).
amounts = st.builds(lambda hundreds, ending: hundreds * 100 + ending,
                    st.integers(min_value=0, max_value=60), st.sampled_from([0, 13, 66, 42])).filter(lambda a: a > 0)
KINDS = ["request"] * 4 + ["approve"] * 4 + ["reject", "cancel", "psp_fails", "psp_succeeds", "retry", "retry",
                                              "dispute", "resolve_dispute"]
steps = st.tuples(st.sampled_from(KINDS), amounts, st.integers(min_value=0, max_value=9), st.integers(0, 1),
                  st.sampled_from(["lost", "accepted", "won"]))

def held_and_lost(payment):
    held = Refund.objects.filter(payment=payment).exclude(state__in=RELEASED_STATES) \
        .aggregate(total=Sum("amount_minor"))["total"] or 0
    Dispute = dispute_model()
    lost = 0
    if Dispute is not None:
        lost = Dispute.objects.filter(payment=payment, state__in=DISPUTE_LOST_STATES) \
            .aggregate(total=Sum("amount_minor"))["total"] or 0
    return held, lost


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(plan=st.lists(steps, min_size=1, max_size=20))
def test_refunds_and_lost_disputes_never_exceed_the_captured_amount(plan, specialist, specialist2, lead, lead2,
                                                                   django_capture_on_commit_callbacks):
    payment = PaymentFactory(amount_minor=CAPTURED)
    requesters, approvers = [specialist, specialist2], [lead, lead2]
    refunds, disputes = [], []
    has_disputes = dispute_model() is not None

    def pick(items, i):
        return items[i % len(items)] if items else None

    for step in plan:
        kind, amount, i, who, outcome = step
        try:
            with django_capture_on_commit_callbacks(execute=True):
                if kind == "request":
                    # Same-amount repeats are the point here, not the duplicate warning: confirm them.
                    refunds.append(refund_request(payment=payment, requester=requesters[who],
                                                  amount_minor=amount, reason="billing_error",
                                                  confirm_duplicate=True))
                elif kind in ("approve", "reject") and refunds:
                    decide = refund_approve if kind == "approve" else refund_reject
                    decide(refund=pick(refunds, i), actor=approvers[who], reason="decided")
                elif kind == "cancel" and refunds:
                    refund = pick(refunds, i)
                    refund_cancel(refund=refund, actor=refund.requester)
                elif kind in ("psp_fails", "psp_succeeds") and refunds:
                    result = RefundResult(RefundStatus.FAILED, failure_code="account_closed") \
                        if kind == "psp_fails" else RefundResult(RefundStatus.SUCCEEDED, psp_refund_id="")
                    refund = Refund.objects.get(pk=pick(refunds, i).pk)
                    if result.succeeded:
                        result = RefundResult(RefundStatus.SUCCEEDED, psp_refund_id=f"re_webhook_{refund.pk}")
                    refund_record_psp_result(refund_id=refund.pk, result=result)  # a late webhook
                elif kind == "retry" and refunds:
                    refund_retry(refund=pick(refunds, i), actor=lead, reason="again")
                elif kind == "dispute" and has_disputes:
                    # A chargeback arrives; the disputes workflow keeps it within what is still refundable.
                    if amount <= payment_refundable_minor(payment=payment):
                        disputes.append(make_dispute(payment=payment, state="needs_response", amount_minor=amount))
                elif kind == "resolve_dispute" and disputes:
                    set_dispute_state(pick(disputes, i), outcome)
        except DomainError as err:
            assert err.code in EXPECTED_REFUSALS, (step, err.code, err.message)

        held, lost = held_and_lost(payment)
        assert held + lost <= CAPTURED, (step, held, lost)
        assert payment_refundable_minor(payment=payment) == CAPTURED - held - lost
