"""POST /webhooks/stripe/ with dispute events: verified, stored, applied once, in order."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import Client

from backoffice.journal.models import JournalEntry
from backoffice.webhooks.models import WebhookDelivery, WebhookEvent
from disputes.models import Dispute
from tests.invoices.factories import PaymentFactory

from .psp import STRIPE_OLD_SECRET, stripe_body, stripe_dispute, stripe_event, stripe_signature

URL = "/webhooks/stripe/"


def post(client, body: bytes, signature: str | None):
    headers = {"HTTP_STRIPE_SIGNATURE": signature} if signature is not None else {}
    return client.post(URL, data=body, content_type="application/json", **headers)


def send(client, event: dict, **sign):
    body = stripe_body(event)
    return post(client, body, stripe_signature(body, **sign))


def journal(dispute):
    return list(JournalEntry.objects.filter(case_type="dispute", case_id=dispute.pk).order_by("seq"))


@pytest.mark.django_db
def test_created_makes_a_needs_response_dispute_with_the_psp_facts(client):
    payment = PaymentFactory(amount_minor=12000, currency="USD")
    due_by = int(datetime(2031, 3, 14, 23, 59, 59, tzinfo=UTC).timestamp())
    obj = stripe_dispute(charge=payment.psp_reference, amount=12000, currency="usd", due_by=due_by,
                         network_reason_code="10.4", reason="fraudulent")

    response = send(client, stripe_event("charge.dispute.created", obj))

    assert response.status_code == 200, response.content
    dispute = Dispute.objects.get(psp="stripe", psp_dispute_id=obj["id"])
    assert (dispute.state, dispute.stage, dispute.payment_id) == ("needs_response", "chargeback", payment.pk)
    assert (dispute.amount_minor, dispute.currency, dispute.network) == (12000, "USD", "visa")
    assert (dispute.reason_code.network, dispute.reason_code.code) == ("visa", "10.4")
    assert dispute.due_at == datetime(2031, 3, 14, 23, 59, 59, tzinfo=UTC)
    rows = journal(dispute)
    assert [(r.transition, r.actor_label) for r in rows] == [("create", "webhook:stripe")]
    event = WebhookEvent.objects.get()
    assert (event.status, event.case_id, event.case_reference) == ("applied", dispute.pk, dispute.reference)
    delivery = WebhookDelivery.objects.get()
    assert delivery.verdict == "verified" and json.loads(bytes(delivery.raw_body))["id"] == event.event_id
    assert "Stripe-Signature" in delivery.headers


@pytest.mark.django_db
def test_without_a_network_code_stripes_reason_picks_the_reason_and_an_inquiry_starts_at_inquiry(client):
    payment = PaymentFactory()
    obj = stripe_dispute(charge=payment.psp_reference, status="warning_needs_response", network_reason_code=None,
                         reason="product_not_received")

    assert send(client, stripe_event("charge.dispute.created", obj)).status_code == 200

    dispute = Dispute.objects.get(psp_dispute_id=obj["id"])
    assert (dispute.state, dispute.stage) == ("inquiry", "inquiry")
    assert (dispute.reason_code.network, dispute.reason_code.code, dispute.reason_code.category) == (
        "other", "product_not_received", "consumer_dispute")


@pytest.mark.django_db
def test_the_same_event_five_times_applies_once_and_answers_2xx_each_time(client):
    payment = PaymentFactory()
    event = stripe_event("charge.dispute.created", stripe_dispute(charge=payment.psp_reference))

    statuses = [send(client, event).status_code for _ in range(5)]

    assert statuses == [200] * 5
    dispute = Dispute.objects.get()
    assert len(journal(dispute)) == 1
    assert WebhookDelivery.objects.count() == 5
    row = WebhookEvent.objects.get()
    assert (row.status, row.deliveries_seen) == ("applied", 5)
    assert [d.outcomes[0]["result"] for d in WebhookDelivery.objects.order_by("pk")] == ["applied"] + ["duplicate"] * 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_five_concurrent_deliveries_of_one_event_make_one_dispute_and_one_journal_row():
    payment = PaymentFactory()
    event = stripe_event("charge.dispute.created", stripe_dispute(charge=payment.psp_reference))
    body = stripe_body(event)
    barrier = threading.Barrier(5)
    statuses: list[int] = []

    def deliver():
        try:
            barrier.wait(timeout=10)
            statuses.append(post(Client(), body, stripe_signature(body)).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert sorted(statuses) == [200] * 5
    dispute = Dispute.objects.get()
    assert len(journal(dispute)) == 1
    assert WebhookEvent.objects.get().deliveries_seen == 5
    results = sorted(d.outcomes[0]["result"] for d in WebhookDelivery.objects.all())
    assert results == ["applied"] + ["duplicate"] * 4


BAD = {
    "tampered body": lambda body: (body.replace(b'"amount": 10000', b'"amount": 1000'), stripe_signature(body)),
    "wrong secret": lambda body: (body, stripe_signature(body, secret="whsec_not_ours")),
    "missing header": lambda body: (body, None),
    "stale timestamp": lambda body: (body, stripe_signature(body, timestamp=int(time.time()) - 301)),
    "future timestamp": lambda body: (body, stripe_signature(body, timestamp=int(time.time()) + 600)),
    "garbage header": lambda body: (body, "v1=deadbeef"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_signature_is_400_stored_and_applies_nothing(client, case):
    payment = PaymentFactory()
    body = stripe_body(stripe_event("charge.dispute.created", stripe_dispute(charge=payment.psp_reference)))
    sent, signature = BAD[case](body)

    response = post(client, sent, signature)

    assert response.status_code == 400
    assert response.json()["code"] == "bad_signature"
    assert not Dispute.objects.exists() and not WebhookEvent.objects.exists()
    assert not JournalEntry.objects.exists()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.verdict, bytes(delivery.raw_body)) == ("bad_signature", sent)


@pytest.mark.django_db
def test_a_secret_being_rotated_out_still_verifies(client):
    payment = PaymentFactory()
    event = stripe_event("charge.dispute.created", stripe_dispute(charge=payment.psp_reference))

    assert send(client, event, secret=STRIPE_OLD_SECRET).status_code == 200
    assert Dispute.objects.count() == 1


@pytest.mark.django_db
def test_without_a_configured_secret_every_delivery_is_refused_and_kept(client, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    payment = PaymentFactory()

    response = send(client, stripe_event("charge.dispute.created", stripe_dispute(charge=payment.psp_reference)))

    assert response.status_code == 400 and response.json()["code"] == "not_configured"
    assert WebhookDelivery.objects.get().verdict == "not_configured" and not Dispute.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"id": "evt_1"}', b"\xff\xfe"])
def test_a_signed_body_that_is_not_a_stripe_event_is_400_never_500(client, body):
    response = post(client, body, stripe_signature(body))

    assert response.status_code == 400
    assert WebhookDelivery.objects.get().verdict in ("malformed", "bad_signature")


@pytest.mark.django_db
def test_closed_delivered_before_updated_leaves_the_final_state(client):
    payment = PaymentFactory()
    obj = stripe_dispute(charge=payment.psp_reference)
    t0 = int(time.time()) - 100
    created = stripe_event("charge.dispute.created", obj, created=t0)
    updated = stripe_event("charge.dispute.updated", {**obj, "status": "under_review"}, created=t0 + 10)
    closed = stripe_event("charge.dispute.closed", {**obj, "status": "won"}, created=t0 + 20)

    for event in (created, closed, updated):
        assert send(client, event).status_code == 200

    dispute = Dispute.objects.get()
    assert dispute.state == "won"
    assert [r.transition for r in journal(dispute)] == ["create", "mark_won"]
    assert WebhookEvent.objects.get(event_id=updated["id"]).status == "stale"


@pytest.mark.django_db
def test_updated_then_closed_walks_through_under_review(client):
    payment = PaymentFactory()
    obj = stripe_dispute(charge=payment.psp_reference)
    t0 = int(time.time()) - 100
    for offset, (kind, status) in enumerate([("created", "needs_response"), ("updated", "under_review"),
                                             ("closed", "lost")]):
        send(client, stripe_event(f"charge.dispute.{kind}", {**obj, "status": status}, created=t0 + offset))

    dispute = Dispute.objects.get()
    assert dispute.state == "lost"
    assert [(r.transition, r.actor_label) for r in journal(dispute)] == [
        ("create", "webhook:stripe"), ("submit_evidence", "webhook:stripe"), ("mark_lost", "webhook:stripe")]


@pytest.mark.django_db
def test_funds_withdrawn_is_recorded_on_the_case(client):
    payment = PaymentFactory()
    obj = stripe_dispute(charge=payment.psp_reference)
    send(client, stripe_event("charge.dispute.created", obj))

    send(client, stripe_event("charge.dispute.funds_withdrawn", obj))

    dispute = Dispute.objects.get()
    assert [r.transition for r in journal(dispute)] == ["create", "psp_funds_withdrawn"]
    assert journal(dispute)[-1].context["amount_minor"] == 10000


@pytest.mark.django_db
def test_an_event_for_an_unknown_payment_is_kept_unmatched_and_answered_2xx(client):
    obj = stripe_dispute(charge="ch_nobody_knows")

    response = send(client, stripe_event("charge.dispute.created", obj))

    assert response.status_code == 200
    row = WebhookEvent.objects.get()
    assert (row.status, row.payment_reference) == ("unmatched", "ch_nobody_knows")
    assert not Dispute.objects.exists()


@pytest.mark.django_db
def test_an_event_type_nobody_handles_is_stored_and_answered_2xx(client):
    response = send(client, stripe_event("customer.created", {"id": "cus_123", "object": "customer"}))

    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == "ignored"


@pytest.mark.django_db
def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_signed_raw_bytes_through_the_real_http_server(live_server):
    payment = PaymentFactory()
    body = stripe_body(stripe_event("charge.dispute.created", stripe_dispute(charge=payment.psp_reference)))

    def deliver(payload: bytes, signature: str) -> int:
        request = urllib.request.Request(live_server.url + URL, data=payload, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "Stripe-Signature": signature,
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                assert json.loads(answer.read())["received"] is True
                return answer.status
        except urllib.error.HTTPError as err:
            return err.code

    assert deliver(body + b" ", stripe_signature(body)) == 400
    assert deliver(body, stripe_signature(body)) == 200
    assert deliver(body, stripe_signature(body)) == 200

    dispute = Dispute.objects.get()
    assert (dispute.state, dispute.amount_minor) == ("needs_response", 10000)
    assert WebhookDelivery.objects.count() == 3
