"""A stateful property: whatever people, the PSP and the card networks do, in any order, no payment pays out
more than it captured unless the network took it (and then the dispute is flagged), and the journal stays intact.

Hypothesis drives the real services — refund request / approve / reject / cancel / submit / PSP answer /
retry, dispute create / accept / mark_lost / mark_won, and payment extensions request / approve / reject /
cancel on two open invoices — on two payments, and after every step checks:

* the invariant query (``tests.money_checks``): refunds sent or on their way + lost or accepted
  disputes ≤ captured, except on a payment whose loss was flagged as over captured;
* on a payment without such a flag, the stricter rule with every held refund counted (requests too);
* a refund step that succeeded left the payment within that stricter rule (our own decisions never
  push past captured, flag or no flag);
* ``payment_refundable_minor`` equals what the rows say is left;
* an invoice has at most one open extension, and one with an approved extension is due at its promise;
* ``verify_journal`` finds every chain intact.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule, run_state_machine_as_test

from backoffice.actors import WEBHOOK_STRIPE
from backoffice.errors import DomainError
from backoffice.gateway import RefundResult, RefundStatus
from backoffice.journal.verification import journal_verify
from disputes.models import LOST_STATES, Dispute, ReasonCode
from disputes.services import dispute_accept, dispute_create, dispute_mark_lost, dispute_mark_won
from invoices.models import EXTENSION_OPEN_STATES, PaymentExtension, promise_deadline
from invoices.services import extension_approve, extension_cancel, extension_reject, extension_request
from refunds.models import RELEASED_STATES, Refund
from refunds.selectors import payment_refundable_minor
from refunds.services import (
    refund_approve,
    refund_cancel,
    refund_record_psp_result,
    refund_reject,
    refund_request,
    refund_retry,
)
from refunds.tasks import enqueue_submit
from tests.invoices.factories import InvoiceFactory, PaymentFactory
from tests.money_checks import payments_over_captured, payments_with_a_flagged_loss

CAPTURED = 10000
EXPECTED_REFUSALS = {
    "refund_exceeds_refundable", "payment_disputed", "transition_not_allowed", "self_approval_forbidden",
    "same_approver", "approval_limit_exceeded", "permission_denied", "concurrent_change", "reason_required",
    "extension_already_open", "invoice_not_eligible", "extension_too_long", "invalid_due_date",
}
# Amount endings pick the sandbox's outcome: …00 succeeds, …13 is declined, …66 stays pending (processing).
amounts = st.builds(lambda hundreds, ending: hundreds * 100 + ending,
                    st.integers(min_value=0, max_value=60), st.sampled_from([0, 13, 66])).filter(lambda a: a > 0)
dispute_amounts = st.integers(min_value=1, max_value=60).map(lambda n: n * 100)
_ids = itertools.count(1)


def held_and_lost(payment) -> tuple[int, int]:
    held = Refund.objects.filter(payment=payment).exclude(state__in=RELEASED_STATES) \
        .aggregate(total=Sum("amount_minor"))["total"] or 0
    lost = Dispute.objects.filter(payment=payment, state__in=LOST_STATES) \
        .aggregate(total=Sum("amount_minor"))["total"] or 0
    return held, lost


class MoneyMachine(RuleBasedStateMachine):
    people: dict = {}  # set by the test: specialists, leads
    run_on_commit = None  # the test's django_capture_on_commit_callbacks

    refunds = Bundle("refunds")
    disputes = Bundle("disputes")
    extensions = Bundle("extensions")

    def __init__(self):
        super().__init__()
        self.payments = [PaymentFactory(amount_minor=CAPTURED) for _ in range(2)]
        self.invoices = [InvoiceFactory() for _ in range(2)]
        self.moved_money_on = None  # the payment a refund step just moved money on

    def act(self, call):
        """Run one service call as a committed request would (its on-commit work runs); a refusal is an answer."""
        try:
            with self.run_on_commit(execute=True):
                return call()
        except DomainError as err:
            assert err.code in EXPECTED_REFUSALS, (err.code, err.message)
            return None

    # ---------------------------------------------------------------- refunds

    @rule(target=refunds, p=st.integers(0, 1), amount=amounts, who=st.integers(0, 1))
    def request(self, p, amount, who):
        refund = self.act(lambda: refund_request(payment=self.payments[p], requester=self.people["specialists"][who],
                                                 amount_minor=amount, reason="billing_error", confirm_duplicate=True))
        if refund is None:
            return multiple()
        self.moved_money_on = self.payments[p]
        return refund

    @rule(refund=refunds, who=st.integers(0, 1), submit=st.booleans())
    def approve(self, refund, who, submit):
        if self.act(lambda: refund_approve(refund=refund, actor=self.people["leads"][who], reason="ok",
                                           submit=submit)) is not None:
            self.moved_money_on = refund.payment

    @rule(refund=refunds, who=st.integers(0, 1))
    def reject(self, refund, who):
        self.act(lambda: refund_reject(refund=refund, actor=self.people["leads"][who], reason="no"))

    @rule(refund=refunds)
    def cancel(self, refund):
        self.act(lambda: refund_cancel(refund=refund, actor=refund.requester))

    @rule(refund=refunds)
    def sweeper_sends(self, refund):
        before = Refund.objects.get(pk=refund.pk).state
        self.act(lambda: enqueue_submit(refund.pk))
        if before == "approved" and Refund.objects.get(pk=refund.pk).state != "approved":
            self.moved_money_on = refund.payment

    @rule(refund=refunds, succeeded=st.booleans())
    def psp_answers_late(self, refund, succeeded):
        result = RefundResult(RefundStatus.SUCCEEDED, psp_refund_id=f"re_machine_{next(_ids)}") if succeeded \
            else RefundResult(RefundStatus.FAILED, failure_code="account_closed")
        self.act(lambda: refund_record_psp_result(refund_id=refund.pk, result=result, actor=WEBHOOK_STRIPE))

    @rule(refund=refunds, who=st.integers(0, 1))
    def retry(self, refund, who):
        current = Refund.objects.get(pk=refund.pk)
        if self.act(lambda: refund_retry(refund=current, actor=self.people["leads"][who], reason="again")) is not None:
            self.moved_money_on = refund.payment

    # ---------------------------------------------------------------- disputes (the network decides)

    @rule(target=disputes, p=st.integers(0, 1), amount=dispute_amounts)
    def chargeback(self, p, amount):
        payment = self.payments[p]
        dispute = self.act(lambda: dispute_create(
            actor=WEBHOOK_STRIPE, payment=payment, amount_minor=amount, currency=payment.currency, network="visa",
            reason_code=ReasonCode.objects.get(network="visa", code="13.1"), psp="stripe",
            psp_dispute_id=f"dp_machine_{next(_ids):06d}"))
        return multiple() if dispute is None else dispute

    @rule(dispute=disputes)
    def lead_accepts(self, dispute):
        self.act(lambda: dispute_accept(dispute_id=dispute.pk, actor=self.people["leads"][0], reason="accept"))

    @rule(dispute=disputes)
    def network_rules_lost(self, dispute):
        self.act(lambda: dispute_mark_lost(dispute_id=dispute.pk, actor=WEBHOOK_STRIPE))

    @rule(dispute=disputes)
    def network_rules_won(self, dispute):
        self.act(lambda: dispute_mark_won(dispute_id=dispute.pk, actor=WEBHOOK_STRIPE))

    # ---------------------------------------------------------------- extensions (a promise to pay later)

    @rule(target=extensions, i=st.integers(0, 1), days=st.integers(1, 60), who=st.integers(0, 1))
    def promise(self, i, days, who):
        invoice = self.invoices[i]
        invoice.refresh_from_db()
        extension = self.act(lambda: extension_request(
            actor=self.people["specialists"][who], invoice=invoice,
            new_due_date=invoice.due_at.date() + timedelta(days=days), reason="customer asked"))
        return multiple() if extension is None else extension

    @rule(extension=extensions, who=st.integers(0, 1))
    def lead_approves_promise(self, extension, who):
        self.act(lambda: extension_approve(extension_id=extension.pk, actor=self.people["leads"][who], reason="ok"))

    @rule(extension=extensions, who=st.integers(0, 1))
    def lead_rejects_promise(self, extension, who):
        self.act(lambda: extension_reject(extension_id=extension.pk, actor=self.people["leads"][who], reason="no"))

    @rule(extension=extensions)
    def requester_withdraws_promise(self, extension):
        self.act(lambda: extension_cancel(extension_id=extension.pk, actor=extension.requester, reason="paid"))

    # ---------------------------------------------------------------- after every step

    @invariant()
    def one_open_promise_per_invoice_and_the_invoice_follows_it(self):
        for invoice in self.invoices:
            invoice.refresh_from_db()
            open_ones = list(PaymentExtension.objects.filter(invoice=invoice, state__in=EXTENSION_OPEN_STATES))
            assert len(open_ones) <= 1, open_ones
            approved = [e for e in open_ones if e.state == "approved"]
            if approved:
                assert invoice.due_at == promise_deadline(approved[0].new_due_date)

    @invariant()
    def nothing_paid_out_beyond_captured_unless_the_network_took_it(self):
        flagged = payments_with_a_flagged_loss()
        assert {row[0] for row in payments_over_captured()} <= flagged, payments_over_captured()
        for payment in self.payments:
            held, lost = held_and_lost(payment)
            if payment.pk not in flagged:
                assert held + lost <= CAPTURED, (payment.pk, held, lost)
            assert payment_refundable_minor(payment=payment) == max(CAPTURED - held - lost, 0)

    @invariant()
    def our_own_money_steps_stay_within_captured(self):
        if self.moved_money_on is not None:
            held, lost = held_and_lost(self.moved_money_on)
            assert held + lost <= CAPTURED, (held, lost)
            self.moved_money_on = None

    @invariant()
    def the_journal_is_intact(self):
        assert list(journal_verify()) == []


@pytest.mark.django_db
def test_money_state_machine(specialist, specialist2, lead, lead2, django_capture_on_commit_callbacks):
    MoneyMachine.people = {"specialists": [specialist, specialist2], "leads": [lead, lead2]}
    MoneyMachine.run_on_commit = staticmethod(django_capture_on_commit_callbacks)
    run_state_machine_as_test(MoneyMachine, settings=settings(
        max_examples=10, stateful_step_count=20, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
