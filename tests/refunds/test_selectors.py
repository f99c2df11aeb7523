"""What is left to refund, computed in one place; the approvals queue; list scoping."""

import pytest

from backoffice.cases.registry import get_case_type
from refunds.filters import RefundFilter
from refunds.selectors import (
    payment_has_open_dispute,
    payment_list,
    payment_refundable_minor,
    payments_refundable_minor,
    refund_list,
    refunds_awaiting_decision_by,
)
from refunds.services import refund_approve
from tests.invoices.factories import PaymentFactory

from .factories import RefundFactory, make_dispute, needs_disputes, request_refund

pytestmark = pytest.mark.django_db


def test_refundable_is_captured_minus_refunds_that_still_hold_money(specialist):
    payment = PaymentFactory(amount_minor=100000)
    held = {"pending_approval": 1000, "pending_second_approval": 2000, "approved": 3000, "processing": 4000}
    released = {"failed": 10000, "rejected": 20000, "cancelled": 30000}
    for state, amount in {**held, **released}.items():
        RefundFactory(payment=payment, state=state, amount_minor=amount, requester=specialist)
    RefundFactory(payment=payment, state="succeeded", amount_minor=5000, requester=specialist,
                  psp_refund_id="re_1")

    assert payment_refundable_minor(payment=payment) == 100000 - sum(held.values()) - 5000


@needs_disputes
def test_lost_and_accepted_disputes_count_open_and_won_ones_do_not(specialist):
    payment = PaymentFactory(amount_minor=10000)
    make_dispute(payment=payment, state="lost", amount_minor=1000)
    make_dispute(payment=payment, state="accepted", amount_minor=2000)
    make_dispute(payment=payment, state="won", amount_minor=4000)
    make_dispute(payment=payment, state="closed", amount_minor=4000)
    RefundFactory(payment=payment, amount_minor=500, requester=specialist)

    assert payment_refundable_minor(payment=payment) == 10000 - 1000 - 2000 - 500
    assert payment_has_open_dispute(payment=payment) is False
    make_dispute(payment=payment, state="under_review", amount_minor=100)
    assert payment_has_open_dispute(payment=payment) is True


@needs_disputes
def test_refundable_never_goes_below_zero_and_a_lost_dispute_in_another_currency_leaves_nothing(specialist):
    payment = PaymentFactory(amount_minor=10000)
    make_dispute(payment=payment, state="lost", amount_minor=10000)
    RefundFactory(payment=payment, amount_minor=500, requester=specialist)
    assert payment_refundable_minor(payment=payment) == 0

    other = PaymentFactory(amount_minor=10000)
    make_dispute(payment=other, state="lost", amount_minor=50, currency="EUR")
    assert payment_refundable_minor(payment=other) == 0


def test_many_payments_in_one_query(specialist, django_assert_num_queries):
    payments = [PaymentFactory(amount_minor=1000 * (i + 1)) for i in range(5)]
    for p in payments:
        RefundFactory(payment=p, amount_minor=100, requester=specialist)

    with django_assert_num_queries(1):
        left = payments_refundable_minor(payment_ids=[p.pk for p in payments] + [999999])

    assert left == {p.pk: p.amount_minor - 100 for p in payments}
    assert payments_refundable_minor(payment_ids=[]) == {}


def test_payment_list_annotates_refundable_without_n_plus_one(specialist, auditor, django_assert_num_queries):
    for _ in range(4):
        RefundFactory(payment=PaymentFactory(), amount_minor=700, requester=specialist)
    queryset = payment_list(user=auditor)  # reads the user's roles once
    with django_assert_num_queries(1):
        rows = list(queryset)
        assert {(p.refundable_minor, p.customer.name is not None, p.invoice.number is not None) for p in rows} == {
            (9300, True, True)}


def test_people_without_a_role_read_nothing(specialist, django_user_model):
    RefundFactory(requester=specialist)
    nobody = django_user_model.objects.create_user("nobody")
    assert refund_list(user=nobody).count() == 0
    assert payment_list(user=nobody).count() == 0
    assert refund_list(user=specialist).count() == 1


def test_filters_apply_to_the_list(specialist):
    eur = RefundFactory(payment=PaymentFactory(currency="EUR"), requester=specialist)
    usd = RefundFactory(requester=specialist, state="rejected")

    def filtered(data):
        return list(RefundFilter(data, queryset=refund_list(user=specialist)).qs)

    assert filtered({"currency": "eur"}) == [eur]
    assert filtered({"state": ["rejected"]}) == [usd]
    assert filtered({"q": usd.reference.lower()}) == [usd]


def test_the_approvals_queue_shows_what_this_user_could_decide(specialist, specialist2, lead, lead2):
    others = request_refund(requester=specialist, amount_minor=1000)
    own = request_refund(requester=lead, amount_minor=1000)
    too_big = request_refund(requester=specialist, amount_minor=600000, payment=PaymentFactory(amount_minor=700000))
    dual = request_refund(requester=specialist, amount_minor=200000, payment=PaymentFactory(amount_minor=300000))
    refund_approve(refund=dual, actor=lead, reason="first look ok")
    decided = RefundFactory(requester=specialist, state="rejected")
    no_limit = request_refund(requester=specialist, amount_minor=100, payment=PaymentFactory(currency="JPY"))

    spec = get_case_type("refunds")
    queue = set(spec.queue("approvals", lead))
    assert others in queue and own not in queue and too_big not in queue and dual not in queue
    assert decided not in queue and no_limit not in queue
    assert dual in set(spec.queue("approvals", lead2)) and own in set(spec.queue("approvals", lead2))
    assert list(spec.queue("approvals", specialist2)) == []


def test_the_approvals_queue_mirrors_who_may_decide(specialist, lead, auditor):
    refund = request_refund(requester=specialist)
    base = refund_list(user=lead)
    assert list(refunds_awaiting_decision_by(base, lead)) == [refund]
    assert list(refunds_awaiting_decision_by(base, auditor)) == []
