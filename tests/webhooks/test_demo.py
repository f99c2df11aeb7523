"""The demo seeds a few stored deliveries so the inbox is not empty: applied, duplicate, unmatched."""

import random

import pytest

from backoffice.webhooks import demo
from backoffice.webhooks.models import WebhookDelivery
from disputes.models import Dispute
from tests.invoices.factories import PaymentFactory


@pytest.mark.django_db
def test_the_demo_seeds_an_applied_a_duplicate_and_an_unmatched_delivery_once(settings, client, lead):
    settings.STRIPE_WEBHOOK_SECRET = ""  # the demo signs with its own secret, accepted while seeding
    PaymentFactory(psp="stripe", network="visa")

    demo.seed(rng=random.Random(1))
    demo.seed(rng=random.Random(1))

    assert [d.outcomes[0]["result"] for d in WebhookDelivery.objects.order_by("pk")] == [
        "applied", "duplicate", "unmatched"]
    assert Dispute.objects.get().psp_dispute_id == "dp_demo_0001"
    client.force_login(lead)
    assert b"ch_demo_unknown_7731" in client.get("/webhooks/").content
