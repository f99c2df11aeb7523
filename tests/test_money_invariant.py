"""No payout beyond what was captured: a thread storm on PostgreSQL, and the refusals through the real HTTP server.

After many people and the PSP act at once on a few payments (refund requests, approvals, retries,
dispute outcomes), the invariant query (``tests.money_checks``) finds no payment whose refunds sent
or on their way plus lost or accepted disputes exceed what it captured.
"""

from __future__ import annotations

import itertools
import json
import threading
import urllib.error
import urllib.request

import pytest
from django.db import connections

from backoffice.accounts.services import api_token_issue
from backoffice.actors import WEBHOOK_STRIPE
from backoffice.errors import DomainError
from backoffice.journal.verification import journal_verify
from disputes.models import ReasonCode
from disputes.services import dispute_accept, dispute_create, dispute_mark_lost, dispute_mark_won
from refunds.models import Refund
from refunds.services import refund_approve, refund_request, refund_retry
from tests.invoices.factories import PaymentFactory
from tests.money_checks import payment_held_elsewhere, payments_over_captured
from tests.refunds.factories import RefundFactory, make_users

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
_ids = itertools.count(1)


def chargeback(payment, amount_minor):
    return dispute_create(actor=WEBHOOK_STRIPE, payment=payment, amount_minor=amount_minor, currency=payment.currency,
                          network="visa", reason_code=ReasonCode.objects.get(network="visa", code="13.1"),
                          psp="stripe", psp_dispute_id=f"dp_storm_{next(_ids):06d}")


def storm(actions):
    """Run every ``action()`` in its own thread, released together; each answer is "ok" or a refusal code."""
    barrier = threading.Barrier(len(actions))
    results: list = [None] * len(actions)

    def worker(i):
        try:
            barrier.wait(timeout=30)
            results[i] = actions[i]()
        except DomainError as err:
            results[i] = err.code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results


def until_decided(action, attempts=2000):
    """What a person does who keeps trying while the payment is disputed or busy: act again."""
    code = ""
    for _ in range(attempts):
        try:
            action()
            return "ok"
        except DomainError as err:
            code = err.code
            if code not in ("payment_disputed", "concurrent_change"):
                return code
    return code


def test_a_storm_of_requests_approvals_retries_and_dispute_outcomes_never_pays_out_beyond_captured():
    specialists = make_users("storm_spec", "billing_specialist", 3)
    leads = make_users("storm_lead", "team_lead", 3)
    payments, pending, failed, disputes = [], [], [], []
    for _ in range(3):
        payment = PaymentFactory(amount_minor=10000)
        payments.append(payment)
        # Requested while the payment was clean: 3 × 30.00 of 100.00.
        pending.append([refund_request(payment=payment, requester=specialists[i], amount_minor=3000,
                                       reason="billing_error", confirm_duplicate=True) for i in range(3)])
        failed.append(RefundFactory(payment=payment, amount_minor=1000, state="failed", requester=specialists[0]))
        disputes.append(chargeback(payment, 4000))  # 9000 + 4000 > 10000: recorded, flagged
    assert all(d.over_captured_at is not None for d in disputes)

    actions = []
    outcomes = [
        lambda d: dispute_accept(dispute_id=d.pk, actor=leads[2], reason="accept liability"),
        lambda d: dispute_mark_lost(dispute_id=d.pk, actor=WEBHOOK_STRIPE),
        lambda d: dispute_mark_won(dispute_id=d.pk, actor=WEBHOOK_STRIPE),
    ]
    for p, payment in enumerate(payments):
        actions.append(lambda p=p: until_decided(lambda: outcomes[p](disputes[p])))
        for refund in pending[p]:
            for lead in leads[:2]:
                actions.append(lambda r=refund, lead=lead: until_decided(
                    lambda: refund_approve(refund=Refund.objects.get(pk=r.pk), actor=lead, reason="storm")))
        for lead in leads:
            actions.append(lambda p=p, lead=lead: until_decided(
                lambda: refund_retry(refund=Refund.objects.get(pk=failed[p].pk), actor=lead, reason="again")))
        for specialist in specialists[1:]:
            actions.append(lambda payment=payment, s=specialist: until_decided(
                lambda: refund_request(payment=payment, requester=s, amount_minor=500, reason="goodwill",
                                       confirm_duplicate=True)))

    results = storm(actions)

    assert payments_over_captured() == [], results
    assert [d.state for d in (type(d).objects.get(pk=d.pk) for d in disputes)] == ["accepted", "lost", "won"]
    moved = ("approved", "processing", "succeeded")
    for lost_payment in payments[:2]:  # the losses took 4000 of what 9000 of requests needed: none went out
        assert not Refund.objects.filter(payment=lost_payment, state__in=moved).exists()
    # The won dispute costs nothing: the three requests went out, and at most 1000 more (a retry or new requests).
    assert all(Refund.objects.get(pk=r.pk).state in moved for r in pending[2])
    assert list(journal_verify()) == []


# ---------------------------------------------------------------- the real HTTP server


def _post(url, token, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_api_refuses_over_captured_and_busy_payment_approvals_over_http(live_server):
    specialist = make_users("http_spec", "billing_specialist", 1)[0]
    lead = make_users("http_lead", "team_lead", 1)[0]
    token = api_token_issue(user=lead)[1]
    payment = PaymentFactory(amount_minor=10000)
    refund = refund_request(payment=payment, requester=specialist, amount_minor=6000, reason="billing_error")
    dispute_mark_lost(dispute_id=chargeback(payment, 5000).pk, actor=WEBHOOK_STRIPE)
    url = f"{live_server.url}/api/v1/refunds/{refund.pk}/transitions/approve/"

    status, body = _post(url, token, {"reason": "looks fine"})

    assert (status, body["code"]) == (409, "refund_exceeds_refundable"), body
    assert body["detail"] and Refund.objects.get(pk=refund.pk).state == "pending_approval"

    other = refund_request(payment=PaymentFactory(), requester=specialist, amount_minor=2500, reason="goodwill")
    with payment_held_elsewhere(other.payment_id, seconds=60):  # urlopen gives up after 30 s, well before
        status, body = _post(f"{live_server.url}/api/v1/refunds/{other.pk}/transitions/approve/", token,
                             {"reason": "ok"})
    assert (status, body["code"]) == (409, "concurrent_change"), body
    assert Refund.objects.get(pk=other.pk).state == "pending_approval"
