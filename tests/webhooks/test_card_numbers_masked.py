"""Anyone can POST to a webhook endpoint, and every delivery is stored: a card number in one is masked
(first six, last four) before it reaches the database, in the raw body, the headers and the event payload,
while a PSP's numeric references are kept byte for byte."""

from __future__ import annotations

import json
import logging

import pytest
from django.db import connection

from backoffice.parsing import mask_card_numbers, mask_card_numbers_bytes, mask_card_numbers_json
from backoffice.webhooks.models import WebhookDelivery, WebhookEvent
from backoffice.webhooks.services import webhook_delivery_replay
from tests.invoices.factories import PaymentFactory

from .psp import stripe_body, stripe_dispute, stripe_event, stripe_signature

PAN = "4111 1111 1111 1111"
PAN_DIGITS = "4111111111111111"


def _stored_bytes() -> bytes:
    """What PostgreSQL holds for every delivery, read without the ORM (no cache, no model property)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT raw_body, headers::text, verdict_detail FROM webhooks_webhookdelivery")
        return b"".join(bytes(body) + headers.encode() + detail.encode() for body, headers, detail in cursor.fetchall())


def test_the_parsers_mask_cards_and_leave_references_alone():
    assert mask_card_numbers(f"card {PAN} declined") == ("card 4111 11** **** 1111 declined", 1)
    # Adyen's numeric pspReference (starts with 8), a timestamp, a failing Luhn run: not cards.
    for text in ("8535296650153317", "1764512345", "4111111111111112", "ref 991617894949013"):
        assert mask_card_numbers(text) == (text, 0)
    assert mask_card_numbers_bytes(b'{"n":"5555555555554444"}') == (b'{"n":"555555******4444"}', 1)
    value, count = mask_card_numbers_json({"a": [4242424242424242, "x 378282246310005"], "ok": 8535296650153317})
    assert value == {"a": ["424242******4242", "x 378282*****0005"], "ok": 8535296650153317} and count == 2


@pytest.mark.django_db
def test_a_forged_delivery_with_a_card_number_is_stored_masked(client, caplog):
    body = json.dumps({"id": "evt_forged", "type": "charge.dispute.created", "note": f"card {PAN}",
                       "data": {"object": {"number": int(PAN_DIGITS)}}}).encode()
    with caplog.at_level(logging.DEBUG):
        response = client.post("/webhooks/stripe/", data=body, content_type="application/json",
                               HTTP_STRIPE_SIGNATURE="t=1,v1=00", HTTP_X_CARD=PAN)

    assert response.status_code == 400
    delivery = WebhookDelivery.objects.get()
    assert delivery.verdict == "bad_signature"
    stored = _stored_bytes()
    assert PAN.encode() not in stored and PAN_DIGITS.encode() not in stored
    assert b"4111 11** **** 1111" in stored and b"411111******1111" in stored
    assert "masked" in delivery.verdict_detail
    assert PAN not in caplog.text and PAN_DIGITS not in caplog.text


@pytest.mark.django_db
def test_a_verified_event_carrying_a_card_is_applied_and_stored_masked(client, lead):
    payment = PaymentFactory(amount_minor=5000, currency="USD")
    obj = stripe_dispute(charge=payment.psp_reference, amount=5000)
    obj["metadata"] = {"customer_note": f"paid with {PAN}"}
    body = stripe_body(stripe_event("charge.dispute.created", obj))

    response = client.post("/webhooks/stripe/", data=body, content_type="application/json",
                           HTTP_STRIPE_SIGNATURE=stripe_signature(body))

    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get()
    assert event.status == "applied"
    assert event.payload["data"]["object"]["metadata"]["customer_note"] == "paid with 4111 11** **** 1111"
    stored = _stored_bytes()
    assert PAN.encode() not in stored
    with connection.cursor() as cursor:
        cursor.execute("SELECT payload::text FROM webhooks_webhookevent")
        assert PAN not in cursor.fetchone()[0]
    # The masked copy cannot be verified again: replay says so instead of pretending.
    from backoffice.errors import InvalidInput
    with pytest.raises(InvalidInput) as refused:
        webhook_delivery_replay(delivery_id=WebhookDelivery.objects.get().pk, actor=lead)
    assert refused.value.code == "delivery_masked"


@pytest.mark.django_db
def test_a_delivery_without_cards_is_kept_byte_for_byte(client):
    payment = PaymentFactory(amount_minor=5000, currency="USD")
    obj = stripe_dispute(charge=payment.psp_reference, amount=5000)
    obj["metadata"] = {"adyen_psp_reference": "8535296650153317", "order": 4111111111111112}
    body = stripe_body(stripe_event("charge.dispute.created", obj))

    client.post("/webhooks/stripe/", data=body, content_type="application/json",
                HTTP_STRIPE_SIGNATURE=stripe_signature(body))

    delivery = WebhookDelivery.objects.get()
    assert bytes(delivery.raw_body) == body and delivery.verdict == "verified"
    assert "masked" not in delivery.verdict_detail
