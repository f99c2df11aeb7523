"""POST /webhooks/adyen/: each notification item judged alone by its HMAC, ``[accepted]`` answered."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from backoffice.journal.models import JournalEntry
from backoffice.webhooks.models import WebhookDelivery, WebhookEvent
from disputes.models import Dispute
from tests.invoices.factories import PaymentFactory

from .psp import ADYEN_OLD_KEY, adyen_body, adyen_item

URL = "/webhooks/adyen/"


def post(client, body: bytes):
    return client.post(URL, data=body, content_type="application/json")


def adyen_payment(**kwargs):
    return PaymentFactory(psp="adyen", psp_reference=kwargs.pop("psp_reference", "8815329842815468"),
                          currency="EUR", amount_minor=kwargs.pop("amount_minor", 10000), **kwargs)


def chargeback(code: str, *, dispute: str = "9915555555555555", payment: str = "8815329842815468",
               when: str = "2026-11-20T10:15:30+01:00", status: str = "Undefended", **kwargs):
    return adyen_item(event_code=code, psp_reference=dispute, original_reference=payment, event_date=when,
                      additional={"chargebackReasonCode": "10.4", "chargebackSchemeCode": "visa",
                                  "defensePeriodEndsAt": "2031-01-30T10:15:30+01:00", "disputeStatus": status},
                      **kwargs)


@pytest.mark.django_db
def test_notification_of_chargeback_creates_the_dispute_and_answers_accepted(client):
    payment = adyen_payment()

    response = post(client, adyen_body(chargeback("NOTIFICATION_OF_CHARGEBACK")))

    assert response.status_code == 200 and response.content == b"[accepted]"
    dispute = Dispute.objects.get(psp="adyen", psp_dispute_id="9915555555555555")
    assert (dispute.payment_id, dispute.state, dispute.amount_minor, dispute.currency) == (
        payment.pk, "needs_response", 10000, "EUR")
    assert (dispute.network, dispute.reason_code.code) == ("visa", "10.4")
    assert dispute.due_at == datetime(2031, 1, 30, 9, 15, 30, tzinfo=UTC)
    assert JournalEntry.objects.get(case_id=dispute.pk).actor_label == "webhook:adyen"


@pytest.mark.django_db
def test_a_batch_with_one_tampered_item_refuses_that_item_and_applies_the_others(client):
    adyen_payment(psp_reference="8815000000000001")
    adyen_payment(psp_reference="8815000000000002")
    adyen_payment(psp_reference="8815000000000003")
    good1 = chargeback("NOTIFICATION_OF_CHARGEBACK", dispute="9910000000000001", payment="8815000000000001")
    tampered = chargeback("NOTIFICATION_OF_CHARGEBACK", dispute="9910000000000002", payment="8815000000000002")
    tampered["amount"]["value"] = 5  # changed after signing
    good2 = chargeback("NOTIFICATION_OF_CHARGEBACK", dispute="9910000000000003", payment="8815000000000003",
                       key=ADYEN_OLD_KEY)  # signed with the key being rotated out

    response = post(client, adyen_body(good1, tampered, good2))

    assert response.status_code == 200 and response.content == b"[accepted]"
    assert set(Dispute.objects.values_list("psp_dispute_id", flat=True)) == {"9910000000000001", "9910000000000003"}
    delivery = WebhookDelivery.objects.get()
    assert delivery.verdict == "partial"
    assert [o["result"] for o in delivery.outcomes] == ["applied", "refused", "applied"]
    assert WebhookEvent.objects.count() == 2


@pytest.mark.django_db
def test_a_batch_with_no_valid_item_is_400_and_applies_nothing(client):
    adyen_payment()
    unsigned = chargeback("NOTIFICATION_OF_CHARGEBACK", key=None)
    wrong = chargeback("CHARGEBACK", key="00" * 32)

    response = post(client, adyen_body(unsigned, wrong))

    assert response.status_code == 400
    assert not Dispute.objects.exists() and not WebhookEvent.objects.exists()
    assert WebhookDelivery.objects.get().verdict == "bad_signature"


@pytest.mark.django_db
def test_the_dispute_lifecycle_and_a_late_older_notification(client):
    adyen_payment()
    post(client, adyen_body(chargeback("NOTIFICATION_OF_CHARGEBACK", when="2026-11-20T10:00:00+01:00")))
    post(client, adyen_body(chargeback("CHARGEBACK", when="2026-11-21T10:00:00+01:00")))
    post(client, adyen_body(chargeback("INFORMATION_SUPPLIED", when="2026-11-22T10:00:00+01:00", status="Pending")))
    post(client, adyen_body(chargeback("CHARGEBACK_REVERSED", when="2026-11-25T10:00:00+01:00", status="Won")))
    # Adyen retries an older notification that we missed: it never moves the case backwards.
    post(client, adyen_body(chargeback("CHARGEBACK", when="2026-11-21T12:00:00+01:00", status="Pending")))

    dispute = Dispute.objects.get()
    assert dispute.state == "won"
    assert list(JournalEntry.objects.filter(case_id=dispute.pk, case_type="dispute").order_by("seq")
                .values_list("transition", flat=True)) == [
        "create", "psp_funds_withdrawn", "submit_evidence", "mark_won", "psp_funds_reinstated"]
    assert WebhookEvent.objects.filter(status="stale").count() == 1


@pytest.mark.django_db
def test_second_chargeback_is_a_loss(client):
    adyen_payment()
    post(client, adyen_body(chargeback("NOTIFICATION_OF_CHARGEBACK", when="2026-11-20T10:00:00+01:00")))
    post(client, adyen_body(chargeback("SECOND_CHARGEBACK", when="2026-11-28T10:00:00+01:00", status="Lost")))

    assert Dispute.objects.get().state == "lost"


@pytest.mark.django_db
@pytest.mark.parametrize("body", [b"nope", b"{}", b'{"notificationItems": []}', json.dumps([1]).encode()])
def test_a_body_that_is_not_a_notification_batch_is_400(client, body):
    assert post(client, body).status_code == 400
    assert WebhookDelivery.objects.get().verdict == "malformed"
