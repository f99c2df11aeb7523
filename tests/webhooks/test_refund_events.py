"""Refunds that settle: pending at the PSP, then moved by webhooks (or polled), never created twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from backoffice.journal.models import JournalEntry
from backoffice.notifications.models import Notification
from backoffice.webhooks.models import WebhookEvent
from refunds.credit_note import credit_note_available, credit_note_voided
from refunds.models import Refund
from refunds.selectors import payment_refundable_minor
from refunds.services import refund_approve
from refunds.tasks import sweep_processing
from tests.disputes.test_packet import pdf_text
from tests.invoices.factories import PaymentFactory
from tests.refunds.factories import request_refund

from .psp import adyen_body, adyen_item, stripe_body, stripe_event, stripe_refund, stripe_signature


def reload(refund):
    return Refund.objects.get(pk=refund.pk)


def approve(refund, lead, capture):
    with capture(execute=True):
        refund_approve(refund=refund, actor=lead, reason="Charged twice")
    return reload(refund)


def send_stripe(client, event):
    body = stripe_body(event)
    return client.post("/webhooks/stripe/", data=body, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=stripe_signature(body))


def sweep_later(refund):
    """The sweep interval has passed since the last PSP call."""
    Refund.objects.filter(pk=refund.pk).update(last_psp_attempt_at=timezone.now() - timedelta(hours=1))
    sweep_processing.apply()


def transitions(refund):
    return list(JournalEntry.objects.filter(case_type="refund", case_id=refund.pk).order_by("seq")
                .values_list("transition", "actor_label"))


@pytest.mark.django_db
def test_stripe_pending_then_refund_updated_succeeds_and_the_refund_is_created_once(
        client, specialist, lead, fake_stripe, django_capture_on_commit_callbacks):
    fake_stripe.answers = [("refund", "pending")]
    refund = approve(request_refund(requester=specialist, amount_minor=2500), lead, django_capture_on_commit_callbacks)
    assert (refund.state, refund.psp_refund_id) == ("processing", "re_fake_0001")

    sweep_later(refund)  # polled: a look-up, not a second refund
    assert reload(refund).state == "processing"
    settled = {**fake_stripe.refunds["re_fake_0001"], "status": "succeeded"}
    response = send_stripe(client, stripe_event("refund.updated", settled))

    assert response.status_code == 200
    refund = reload(refund)
    assert refund.state == "succeeded" and credit_note_available(refund=refund)
    assert transitions(refund)[-1] == ("mark_succeeded", "webhook:stripe")
    assert len(fake_stripe.calls("POST", "/v1/refunds")) == 1
    assert [c["path"] for c in fake_stripe.calls("GET", "/v1/refunds/")] == ["/v1/refunds/re_fake_0001"]


@pytest.mark.django_db
def test_stripe_pending_then_refund_failed_fails_and_the_refund_is_created_once(
        client, specialist, lead, fake_stripe, django_capture_on_commit_callbacks):
    fake_stripe.answers = [("refund", "pending")]
    refund = approve(request_refund(requester=specialist, amount_minor=4000), lead, django_capture_on_commit_callbacks)
    failed = {**fake_stripe.refunds[refund.psp_refund_id], "status": "failed",
              "failure_reason": "expired_or_canceled_card"}

    assert send_stripe(client, stripe_event("refund.failed", failed)).status_code == 200

    refund = reload(refund)
    assert (refund.state, refund.failure_code) == ("failed", "expired_or_canceled_card")
    assert payment_refundable_minor(payment=refund.payment) == 10000
    sweep_later(refund)
    assert len(fake_stripe.calls("POST", "/v1/refunds")) == 1


@pytest.mark.django_db
def test_polling_settles_a_pending_refund_when_no_webhook_comes(
        specialist, lead, fake_stripe, django_capture_on_commit_callbacks):
    fake_stripe.answers = [("refund", "pending")]
    refund = approve(request_refund(requester=specialist), lead, django_capture_on_commit_callbacks)
    fake_stripe.settle(refund.psp_refund_id, "succeeded")

    sweep_later(refund)

    assert reload(refund).state == "succeeded"
    assert transitions(reload(refund))[-1] == ("mark_succeeded", "system:celery")
    assert len(fake_stripe.calls("POST", "/v1/refunds")) == 1


@pytest.mark.django_db
def test_a_late_refund_failed_after_success_voids_the_credit_note_and_tells_the_leads(
        client, specialist, lead, lead2, fake_stripe, django_capture_on_commit_callbacks):
    refund = approve(request_refund(requester=specialist, amount_minor=3000), lead, django_capture_on_commit_callbacks)
    assert refund.state == "succeeded"
    failed = {**fake_stripe.refunds[refund.psp_refund_id], "status": "failed", "failure_reason": "lost_or_stolen_card"}

    with django_capture_on_commit_callbacks(execute=True):
        assert send_stripe(client, stripe_event("refund.failed", failed)).status_code == 200

    refund = reload(refund)
    assert (refund.state, refund.failure_code) == ("failed", "lost_or_stolen_card")
    assert credit_note_voided(refund=refund) and credit_note_available(refund=refund)
    assert transitions(refund)[-1] == ("mark_failed", "webhook:stripe")
    assert payment_refundable_minor(payment=refund.payment) == 10000
    notified = set(Notification.objects.filter(case_type="refund", case_id=refund.pk).values_list("recipient__username",
                                                                                                  flat=True))
    assert notified == {lead.username, lead2.username}
    client.force_login(lead)
    page = client.get(f"/refunds/{refund.pk}/").content.decode()
    assert "data-credit-note-void" in page and "lost_or_stolen_card" in page
    pdf = client.get(f"/refunds/{refund.pk}/credit-note.pdf")
    assert pdf.status_code == 200 and "VOID" in pdf_text(pdf.content)


@pytest.mark.django_db
def test_a_refund_made_in_the_stripe_dashboard_appears_succeeded_and_counts(client):
    payment = PaymentFactory(amount_minor=10000)
    made = stripe_refund(charge=payment.psp_reference, amount=2500, status="succeeded")

    assert send_stripe(client, stripe_event("refund.created", made)).status_code == 200
    assert send_stripe(client, stripe_event("charge.refunded", {
        "id": payment.psp_reference, "object": "charge", "amount": 10000, "amount_refunded": 2500,
        "currency": "usd", "refunded": False, "refunds": {"object": "list", "data": [made], "has_more": False}}
    )).status_code == 200

    refund = Refund.objects.get()
    assert (refund.state, refund.amount_minor, refund.psp_refund_id) == ("succeeded", 2500, made["id"])
    assert transitions(refund) == [("create", "webhook:stripe")]
    assert payment_refundable_minor(payment=payment) == 7500
    assert list(WebhookEvent.objects.order_by("pk").values_list("status", flat=True)) == ["applied", "ignored"]


@pytest.mark.django_db
def test_a_refund_with_no_final_answer_in_time_stops_and_waits_for_a_lead(
        client, specialist, lead, fake_stripe, settings, django_capture_on_commit_callbacks):
    fake_stripe.answers = [("refund", "pending")]
    refund = approve(request_refund(requester=specialist), lead, django_capture_on_commit_callbacks)
    Refund.objects.filter(pk=refund.pk).update(psp_attempt_started_at=timezone.now() - timedelta(hours=24, minutes=1))
    calls = len(fake_stripe.requests)

    with django_capture_on_commit_callbacks(execute=True):
        sweep_later(refund)
    sweep_later(refund)

    refund = reload(refund)
    assert refund.state == "processing" and refund.needs_attention_at is not None
    assert len(fake_stripe.requests) == calls  # neither created nor polled again
    assert transitions(refund)[-1] == ("needs_attention", "system:celery")
    assert Notification.objects.filter(recipient=lead, case_id=refund.pk, kind="psp_attention").count() == 1
    client.force_login(lead)
    assert "data-needs-attention" in client.get(f"/refunds/{refund.pk}/").content.decode()


@pytest.mark.django_db
def test_adyen_refund_is_sent_once_and_settled_by_the_refund_notification(
        client, specialist, lead, fake_adyen, django_capture_on_commit_callbacks):
    payment = PaymentFactory(psp="adyen", psp_reference="8835511210681220", currency="EUR", amount_minor=10000)
    refund = approve(request_refund(requester=specialist, payment=payment, amount_minor=2500), lead,
                     django_capture_on_commit_callbacks)
    assert refund.state == "processing" and refund.psp_refund_id
    sent = fake_adyen.calls("/refunds")
    assert len(sent) == 1
    assert sent[0]["path"] == "/checkout/payments/8835511210681220/refunds"
    assert sent[0]["body"] == {"merchantAccount": "HeliosComputeECOM", "amount": {"value": 2500, "currency": "EUR"},
                               "reference": refund.reference}
    assert sent[0]["headers"]["idempotency-key"] == refund.reference
    sweep_later(refund)  # Adyen has no look-up: nothing is sent again

    item = adyen_item(event_code="REFUND", psp_reference=refund.psp_refund_id, original_reference=payment.psp_reference,
                      value=2500, merchant_reference=refund.reference)
    response = client.post("/webhooks/adyen/", data=adyen_body(item), content_type="application/json")

    assert response.content == b"[accepted]"
    assert reload(refund).state == "succeeded"
    assert transitions(reload(refund))[-1] == ("mark_succeeded", "webhook:adyen")
    assert len(fake_adyen.calls("/refunds")) == 1


@pytest.mark.django_db
def test_adyen_refund_refused_then_a_reversal_after_success(
        client, specialist, lead, fake_adyen, django_capture_on_commit_callbacks):
    payment = PaymentFactory(psp="adyen", psp_reference="8835511210681221", currency="EUR", amount_minor=10000)
    refused = approve(request_refund(requester=specialist, payment=payment, amount_minor=1000), lead,
                      django_capture_on_commit_callbacks)
    ok = approve(request_refund(requester=specialist, payment=payment, amount_minor=2000), lead,
                 django_capture_on_commit_callbacks)

    body = adyen_body(
        adyen_item(event_code="REFUND", psp_reference=refused.psp_refund_id, original_reference=payment.psp_reference,
                   value=1000, success="false", reason="Insufficient balance on payment"),
        adyen_item(event_code="REFUND", psp_reference=ok.psp_refund_id, original_reference=payment.psp_reference,
                   value=2000, event_date="2026-11-20T10:00:00+01:00"),
    )
    client.post("/webhooks/adyen/", data=body, content_type="application/json")
    reversed_ = adyen_item(event_code="REFUNDED_REVERSED", psp_reference=ok.psp_refund_id,
                           original_reference=payment.psp_reference, value=2000,
                           event_date="2026-11-22T10:00:00+01:00")
    client.post("/webhooks/adyen/", data=adyen_body(reversed_), content_type="application/json")

    assert (reload(refused).state, reload(refused).failure_message) == ("failed", "Insufficient balance on payment")
    ok = reload(ok)
    assert (ok.state, ok.failure_code) == ("failed", "refund_reversed") and credit_note_voided(refund=ok)
    assert len(fake_adyen.calls("/refunds")) == 2
