"""Real concurrency on PostgreSQL: threads, each with its own connection, at the same refund or payment."""

import threading

import pytest
from django.db import connections
from django.db.models import Sum

from backoffice.errors import DomainError
from backoffice.gateway.models import SandboxRefund
from backoffice.journal.models import JournalEntry
from refunds.models import RELEASED_STATES, Refund, RefundApproval
from refunds.services import refund_approve, refund_request, refund_retry
from tests.invoices.factories import PaymentFactory
from tests.money_checks import payment_held_elsewhere

from .factories import make_users, request_refund

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_at_once(count, action):
    """Run ``action(i)`` in ``count`` threads released together; each result is "ok" or the refusal's code."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def worker(i):
        try:
            barrier.wait(timeout=20)
            action(i)
            results[i] = "ok"
        except DomainError as err:
            results[i] = err.code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return results


@pytest.mark.parametrize("dual", [False, True], ids=["one-approval", "second-approval"])
def test_twenty_approvers_at_once_give_one_approval_one_journal_row_one_psp_call(specialist, dual):
    leads = make_users("racer", "team_lead", 21)
    amount = 150000 if dual else 2500
    refund = request_refund(requester=specialist, amount_minor=amount, payment=PaymentFactory(amount_minor=200000))
    if dual:
        refund_approve(refund=refund, actor=leads[20], reason="first approval")
        assert Refund.objects.get(pk=refund.pk).state == "pending_second_approval"

    results = run_at_once(20, lambda i: refund_approve(refund=refund, actor=leads[i], reason=f"racer {i}"))

    assert results.count("ok") == 1, results
    assert set(results) - {"ok"} <= {"concurrent_change", "transition_not_allowed"}, results
    assert RefundApproval.objects.filter(refund=refund).count() == (2 if dual else 1)
    approvals = JournalEntry.objects.filter(case_type="refund", case_id=refund.pk, transition="approve")
    assert approvals.count() == (2 if dual else 1)
    refund = Refund.objects.get(pk=refund.pk)
    assert refund.state == "succeeded"
    psp = SandboxRefund.objects.get()
    assert (psp.attempts, psp.idempotency_key) == (1, refund.reference)


def test_two_concurrent_60_refunds_on_a_100_payment_one_wins_and_the_sum_holds(specialist, specialist2):
    payment = PaymentFactory(amount_minor=10000)
    people = [specialist, specialist2]

    results = run_at_once(2, lambda i: refund_request(payment=payment, requester=people[i], amount_minor=6000,
                                                      reason="duplicate_charge"))

    assert sorted(results) == ["ok", "refund_exceeds_refundable"], results
    held = Refund.objects.filter(payment=payment).exclude(state__in=RELEASED_STATES)
    assert held.count() == 1
    assert held.aggregate(total=Sum("amount_minor"))["total"] <= payment.amount_minor


def test_many_small_concurrent_requests_never_exceed_the_captured_amount(django_user_model):
    payment = PaymentFactory(amount_minor=10000)
    people = make_users("asker", "billing_specialist", 12)

    results = run_at_once(12, lambda i: refund_request(payment=payment, requester=people[i], amount_minor=1500,
                                                       reason="goodwill", confirm_duplicate=True))

    assert results.count("ok") == 6 and results.count("refund_exceeds_refundable") == 6, results
    total = Refund.objects.filter(payment=payment).aggregate(total=Sum("amount_minor"))["total"]
    assert total == 9000


def test_twelve_retries_of_one_failure_at_once_send_one_request_to_the_psp(specialist, fake_stripe):
    leads = make_users("retrier", "team_lead", 13)
    fake_stripe.answers = [("refund", "failed", "expired_or_canceled_card")] * 20  # every attempt fails
    refund = request_refund(requester=specialist, amount_minor=2500)
    refund_approve(refund=refund, actor=leads[12], reason="ok")  # committed: sent, and failed
    assert Refund.objects.get(pk=refund.pk).state == "failed"
    seen = [Refund.objects.get(pk=refund.pk) for _ in range(12)]  # twelve leads look at the same failure

    results = run_at_once(12, lambda i: refund_retry(refund=seen[i], actor=leads[i], reason=f"retry {i}"))

    assert results.count("ok") == 1, results
    assert set(results) - {"ok"} <= {"concurrent_change", "transition_not_allowed"}, results
    sent = [call["headers"].get("idempotency-key") for call in fake_stripe.calls("POST", "/v1/refunds")]
    assert sent == [refund.reference, f"{refund.reference}-attempt-2"]
    assert JournalEntry.objects.filter(case_type="refund", case_id=refund.pk, transition="retry").count() == 1


def _while_payment_is_held(payment, action):
    """Run ``action`` in a thread while another transaction holds ``payment``'s row lock; its result or
    refusal code, or "still waiting" if it had not returned after 15 s (the holder lets go after 30 s)."""
    outcome = []

    def actor():
        try:
            action()
            outcome.append("ok")
        except DomainError as err:
            outcome.append(err.code)
        finally:
            connections.close_all()

    with payment_held_elsewhere(payment.pk, seconds=30):
        act = threading.Thread(target=actor)
        act.start()
        act.join(timeout=15)
        waiting = act.is_alive()
    act.join(timeout=30)
    return "still waiting" if waiting else outcome[0]


def test_approving_while_the_payment_is_held_elsewhere_answers_concurrent_change_instead_of_waiting(specialist, lead):
    refund = request_refund(requester=specialist)

    assert _while_payment_is_held(refund.payment, lambda: refund_approve(refund=refund, actor=lead,
                                                                          reason="ok")) == "concurrent_change"
    assert Refund.objects.get(pk=refund.pk).state == "pending_approval"


def test_requesting_while_the_payment_is_held_elsewhere_answers_concurrent_change(specialist):
    payment = PaymentFactory()

    assert _while_payment_is_held(payment, lambda: refund_request(
        payment=payment, requester=specialist, amount_minor=100, reason="goodwill")) == "concurrent_change"
    assert not Refund.objects.filter(payment=payment).exists()
