"""Demo deliveries so the webhook inbox is not empty: a Stripe dispute that was applied, the same
event delivered again (a duplicate), and a dispute for a charge the ledger does not know (unmatched).

They go through the real intake, signed like Stripe signs, with the demo secret (local settings'
``DEMO_STRIPE_WEBHOOK_SECRET``, also accepted when ``STRIPE_WEBHOOK_SECRET`` is set). Idempotent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time

from django.apps import apps
from django.conf import settings
from django.db.models import Exists, OuterRef
from django.test.utils import override_settings

from invoices.models import Payment

from .models import WebhookEvent
from .services import webhook_receive_stripe

logger = logging.getLogger("backoffice.webhooks.demo")

DEMO_SECRET = "whsec_demo_local_only"  # noqa: S105 - demo only
MARKER = "evt_demo_dispute_created_0001"


def _signed(event: dict) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event, indent=2).encode()
    stamp = int(time.time())
    digest = hmac.new(DEMO_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": f"t={stamp},v1={digest}",
                  "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}


def _dispute_event(event_id: str, *, dispute_id: str, charge: str, amount: int, currency: str, brand: str,
                   reason_code: str, reason: str) -> dict:
    now = int(time.time())
    return {
        "id": event_id, "object": "event", "api_version": "2024-06-20", "created": now - 120, "livemode": False,
        "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None}, "type": "charge.dispute.created",
        "data": {"object": {
            "id": dispute_id, "object": "dispute", "amount": amount, "currency": currency.lower(), "charge": charge,
            "created": now - 180, "balance_transactions": [], "evidence": {}, "is_charge_refundable": False,
            "evidence_details": {"due_by": now + 12 * 86400, "has_evidence": False, "past_due": False,
                                 "submission_count": 0},
            "livemode": False, "metadata": {}, "payment_intent": None, "reason": reason, "status": "needs_response",
            "payment_method_details": {"type": "card", "card": {"brand": brand, "case_type": "chargeback",
                                                                "network_reason_code": reason_code}},
        }},
    }


def seed(*, rng: random.Random) -> None:
    if WebhookEvent.objects.filter(psp="stripe", event_id=MARKER).exists():
        return
    Dispute = apps.get_model("disputes", "Dispute")
    payment = (Payment.objects.filter(psp="stripe", method="card", network="visa")
               .exclude(Exists(Dispute.objects.filter(payment_id=OuterRef("pk"))))
               .exclude(refunds__isnull=False).order_by("id").first())
    if payment is None:
        logger.warning("demo webhooks: no undisputed Stripe Visa payment in the ledger; skipped")
        return
    secrets = ",".join(filter(None, [getattr(settings, "STRIPE_WEBHOOK_SECRET", ""), DEMO_SECRET]))
    applied = _dispute_event(MARKER, dispute_id="dp_demo_0001", charge=payment.psp_reference,
                             amount=min(payment.amount_minor, 4900), currency=payment.currency, brand="visa",
                             reason_code="13.1", reason="product_not_received")
    unmatched = _dispute_event("evt_demo_dispute_created_0002", dispute_id="dp_demo_0002",
                               charge="ch_demo_unknown_7731", amount=2900, currency="USD", brand="mastercard",
                               reason_code="4837", reason="fraudulent")
    with override_settings(STRIPE_WEBHOOK_SECRET=secrets):
        for event in (applied, applied, unmatched):
            body, headers = _signed(event)
            webhook_receive_stripe(body=body, headers=headers, remote_addr="127.0.0.1")
    logger.info("demo webhooks: 3 deliveries (applied, duplicate, unmatched)")
