"""/webhooks/ for team leads: deliveries with verdict and outcome, unmatched events linked and applied,
stored deliveries replayed; /refunds/needs-attention/."""

from __future__ import annotations

import pytest
from django.utils import timezone

from backoffice.webhooks.models import WebhookDelivery, WebhookEvent
from disputes.models import Dispute
from tests.invoices.factories import PaymentFactory
from tests.refunds.factories import RefundFactory

from .psp import stripe_body, stripe_dispute, stripe_event, stripe_signature


def deliver(client, event):
    body = stripe_body(event)
    return client.post("/webhooks/stripe/", data=body, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=stripe_signature(body))


@pytest.mark.django_db
def test_the_inbox_is_for_team_leads(client, specialist, auditor, lead):
    for user in (specialist, auditor):
        client.force_login(user)
        assert client.get("/webhooks/").status_code == 403
    client.force_login(lead)
    page = client.get("/webhooks/")
    assert page.status_code == 200 and b"No deliveries yet" in page.content


@pytest.mark.django_db
def test_a_lead_links_an_unmatched_event_to_a_payment_and_it_is_applied(client, lead):
    payment = PaymentFactory(psp_reference="ch_renamed_after_migration")
    obj = stripe_dispute(charge="ch_from_the_old_system", amount=4000)
    deliver(client, stripe_event("charge.dispute.created", obj))
    event = WebhookEvent.objects.get()
    client.force_login(lead)
    page = client.get("/webhooks/")
    assert f'data-event="{event.pk}" data-status="unmatched"'.encode() in page.content

    client.post(f"/webhooks/events/{event.pk}/link/", {"payment": "ch_does_not_exist"})
    assert WebhookEvent.objects.get().status == "unmatched"
    response = client.post(f"/webhooks/events/{event.pk}/link/", {"payment": payment.psp_reference}, follow=True)

    dispute = Dispute.objects.get()
    assert (dispute.payment_id, dispute.amount_minor, dispute.psp_dispute_id) == (payment.pk, 4000, obj["id"])
    event = WebhookEvent.objects.get()
    assert (event.status, event.payment_id, event.resolved_by_id) == ("applied", payment.pk, lead.pk)
    assert b"linked to payment" in response.content
    assert b"Nothing waiting" in client.get("/webhooks/").content


@pytest.mark.django_db
def test_a_lead_replays_a_stored_delivery(client, lead):
    obj = stripe_dispute(charge="ch_arrives_later")
    deliver(client, stripe_event("charge.dispute.created", obj))
    original = WebhookDelivery.objects.get()
    PaymentFactory(psp_reference="ch_arrives_later")  # the payment was imported after the event came
    client.force_login(lead)
    detail = client.get(f"/webhooks/deliveries/{original.pk}/")
    assert detail.status_code == 200 and b"Replay delivery" in detail.content and b"ch_arrives_later" in detail.content

    client.post(f"/webhooks/deliveries/{original.pk}/replay/", {"confirm": "on"})
    client.post(f"/webhooks/deliveries/{original.pk}/replay/", {"confirm": "on"})

    assert Dispute.objects.get().psp_dispute_id == obj["id"]
    assert WebhookEvent.objects.get().deliveries_seen == 3
    replays = list(WebhookDelivery.objects.filter(replay_of=original).order_by("pk"))
    assert [r.outcomes[0]["result"] for r in replays] == ["applied", "duplicate"]
    assert replays[0].replayed_by_id == lead.pk


@pytest.mark.django_db
def test_a_refused_delivery_cannot_be_replayed(client, lead):
    body = stripe_body(stripe_event("charge.dispute.created", stripe_dispute(charge="ch_x")))
    client.post("/webhooks/stripe/", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE="t=1,v1=00")
    refused = WebhookDelivery.objects.get()
    client.force_login(lead)

    response = client.post(f"/webhooks/deliveries/{refused.pk}/replay/", follow=True)

    assert b"delivery_not_accepted" in response.content
    assert WebhookDelivery.objects.count() == 1 and not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_refunds_needing_attention_are_listed_for_leads(client, lead, specialist):
    flagged = RefundFactory(requester=specialist, state="processing", psp_refund_id="re_stuck",
                            needs_attention_at=timezone.now(), attention_reason="No final answer in 24 h")
    RefundFactory(requester=specialist, state="processing", psp_refund_id="re_fine")
    client.force_login(specialist)
    assert client.get("/refunds/needs-attention/").status_code == 403
    client.force_login(lead)

    page = client.get("/refunds/needs-attention/").content.decode()

    assert f'data-refund="{flagged.pk}"' in page and "re_stuck" in page and "re_fine" not in page


@pytest.mark.django_db
def test_the_admin_lists_deliveries_events_submissions_and_imports_read_only(client, superuser_lead):
    deliver(client, stripe_event("charge.dispute.created", stripe_dispute(charge="ch_admin_view")))
    delivery = WebhookDelivery.objects.get()
    client.force_login(superuser_lead)

    for url in ("/admin/webhooks/webhookdelivery/", "/admin/webhooks/webhookevent/",
                "/admin/webhooks/webhookobjectcursor/", "/admin/disputes/pspsubmission/",
                "/admin/disputes/disputereportimport/", f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/"):
        assert client.get(url).status_code == 200, url
    assert client.get("/admin/webhooks/webhookdelivery/add/").status_code == 403
