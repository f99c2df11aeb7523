"""A dispute that, with the payment's refunds, comes to more than was captured is recorded and flagged.

Before: ``dispute_create`` compared the disputed amount with the captured amount only (succeeded
refunds ignored) and refused a PSP's report above it, and nothing marked a loss that did not fit.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from backoffice.actors import CELERY, WEBHOOK_STRIPE
from backoffice.errors import InvalidInput
from backoffice.journal.models import JournalEntry
from disputes.models import Dispute
from disputes.services import dispute_accept, dispute_create, dispute_expire, dispute_mark_lost
from tests.invoices.factories import PaymentFactory
from tests.refunds.factories import RefundFactory
from tests.webhooks.psp import STRIPE_SECRET, stripe_body, stripe_dispute, stripe_event, stripe_signature

from .factories import DisputeFactory, reason

pytestmark = pytest.mark.django_db


def create(payment, amount_minor, *, actor=WEBHOOK_STRIPE, psp_dispute_id="dp_over_1"):
    return dispute_create(actor=actor, payment=payment, amount_minor=amount_minor, currency=payment.currency,
                          network="visa", reason_code=reason("13.1"), psp="stripe", psp_dispute_id=psp_dispute_id)


def test_a_dispute_above_captured_minus_succeeded_refunds_is_created_and_flagged():
    payment = PaymentFactory(amount_minor=10000)
    RefundFactory(payment=payment, amount_minor=6000, state="succeeded", psp_refund_id="re_over_1")

    dispute = create(payment, 5000)

    assert dispute.state == "needs_response" and dispute.is_over_captured
    assert Dispute.objects.get(pk=dispute.pk).over_captured_minor == 1000
    created = JournalEntry.objects.get(case_type="dispute", case_id=dispute.pk, transition="create")
    assert created.context["over_captured_minor"] == 1000


def test_a_dispute_that_fits_is_not_flagged_and_failed_refunds_do_not_count():
    payment = PaymentFactory(amount_minor=10000)
    RefundFactory(payment=payment, amount_minor=6000, state="failed")
    RefundFactory(payment=payment, amount_minor=1000, state="succeeded", psp_refund_id="re_over_2")

    dispute = create(payment, 9000)

    assert not dispute.is_over_captured and dispute.over_captured_minor is None


@pytest.mark.parametrize("outcome", ["accept", "mark_lost", "expire"])
def test_a_loss_that_no_longer_fits_is_flagged_when_it_happens(outcome, lead):
    payment = PaymentFactory(amount_minor=10000)
    dispute = create(payment, 5000)
    if outcome == "expire":  # no response in time = lost (DOMAIN.md)
        Dispute.objects.filter(pk=dispute.pk).update(due_at=timezone.now() - timedelta(hours=1),
                                                         internal_due_at=timezone.now() - timedelta(hours=2))
    assert not dispute.is_over_captured
    # No refund can be requested while the dispute is open, but one made at the PSP's dashboard arrives anyway.
    RefundFactory(payment=payment, amount_minor=7000, state="succeeded", psp_refund_id="re_over_3")

    if outcome == "accept":
        done = dispute_accept(dispute_id=dispute.pk, actor=lead, reason="Cheaper to accept.")
    elif outcome == "expire":
        done = dispute_expire(dispute_id=dispute.pk, actor=CELERY)
    else:
        done = dispute_mark_lost(dispute_id=dispute.pk, actor=WEBHOOK_STRIPE)

    stored = Dispute.objects.get(pk=dispute.pk)
    assert stored.state in ("accepted", "lost", "expired") and stored.over_captured_minor == 2000
    assert done.is_over_captured
    row = JournalEntry.objects.get(case_type="dispute", case_id=dispute.pk, transition=outcome)
    assert row.context["over_captured_minor"] == 2000


def test_a_person_entering_more_than_the_payment_captured_is_still_refused(specialist):
    payment = PaymentFactory(amount_minor=10000)
    with pytest.raises(InvalidInput) as err:
        create(payment, 10001, actor=specialist)
    assert err.value.code == "amount_exceeds_captured" and not Dispute.objects.exists()


def test_a_stripe_dispute_above_the_captured_amount_is_created_and_flagged(client, settings):
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_SECRET
    payment = PaymentFactory(amount_minor=10000, currency="USD")
    obj = stripe_dispute(charge=payment.psp_reference, amount=12000, currency="usd")
    body = stripe_body(stripe_event("charge.dispute.created", obj))

    response = client.post("/webhooks/stripe/", data=body, content_type="application/json",
                           HTTP_STRIPE_SIGNATURE=stripe_signature(body))

    assert response.status_code == 200, response.content
    dispute = Dispute.objects.get(psp_dispute_id=obj["id"])
    assert (dispute.amount_minor, dispute.over_captured_minor) == (12000, 2000)


def test_the_flag_is_on_the_dispute_page_and_in_the_api(client, api, specialist):
    flagged = DisputeFactory(amount_minor=10000)
    Dispute.objects.filter(pk=flagged.pk).update(over_captured_at=flagged.created_at, over_captured_minor=2500)
    plain = DisputeFactory()

    client.force_login(specialist)
    page = client.get(f"/disputes/{flagged.pk}/").content.decode()
    assert 'data-flag="over_captured"' in page and "25.00" in page
    assert 'data-flag="over_captured"' not in client.get(f"/disputes/{plain.pk}/").content.decode()

    body = api(specialist).get(f"/api/v1/disputes/{flagged.pk}/").json()
    assert body["over_captured_minor"] == 2500 and body["over_captured_at"]
    assert api(specialist).get(f"/api/v1/disputes/{plain.pk}/").json()["over_captured_minor"] is None


def test_an_expired_dispute_is_money_lost_and_leaves_only_the_rest_refundable(specialist):
    """No response in time = lost: the network keeps the disputed amount, so it cannot be refunded too."""
    from refunds.selectors import payment_refundable_minor

    payment = PaymentFactory(amount_minor=10000)
    dispute = create(payment, 4000)
    Dispute.objects.filter(pk=dispute.pk).update(due_at=timezone.now() - timedelta(hours=1),
                                                         internal_due_at=timezone.now() - timedelta(hours=2))
    dispute_expire(dispute_id=dispute.pk, actor=CELERY)

    payment.refresh_from_db()
    assert payment_refundable_minor(payment=payment) == 6000
