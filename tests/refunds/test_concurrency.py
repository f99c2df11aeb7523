"""Real concurrency on PostgreSQL: threads, each with its own connection, at the same refund or payment."""

import threading

import pytest
from django.db import connections
from django.db.models import Sum

from backoffice.errors import DomainError
from backoffice.gateway.models import SandboxRefund
from backoffice.journal.models import JournalEntry
from refunds.models import RELEASED_STATES, Refund, RefundApproval
from refunds.services import refund_approve, refund_request
from tests.invoices.factories import PaymentFactory

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
