"""Events shaped as Stripe and Adyen send them, signed the way they sign them.

Stripe (its OpenAPI fixtures and webhook docs): an ``event`` object ``{"id": "evt_…", "object":
"event", "api_version", "created", "data": {"object": …}, "livemode", "pending_webhooks",
"request": {"id", "idempotency_key"}, "type"}`` whose ``data.object`` is a ``dispute`` / ``refund``
/ ``charge``; signed as ``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.

Adyen (standard notifications): ``{"live": "false", "notificationItems": [{"NotificationRequestItem":
{…}}]}``; each item signed with ``additionalData.hmacSignature`` = Base64 HMAC-SHA256 with the hex key
over ``pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import json
import time
from datetime import datetime
from typing import Any

STRIPE_SECRET = "whsec_test_5f1c0ffee0ddba11"
STRIPE_OLD_SECRET = "whsec_test_rotated_out_0001"
ADYEN_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
ADYEN_OLD_KEY = "7F1A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C4D5E6F708192A3B4C5D6E7F8"



def configure_secrets(settings) -> None:
    """Two secrets and two keys configured, as during a rotation: the new one signs by default."""
    settings.STRIPE_WEBHOOK_SECRET = f"{STRIPE_SECRET}, {STRIPE_OLD_SECRET}"
    settings.ADYEN_HMAC_KEY = f"{ADYEN_KEY},{ADYEN_OLD_KEY}"


_ids = itertools.count(1)


def _next(prefix: str) -> str:
    return f"{prefix}_test{next(_ids):08d}{int(time.time()) % 100000:05d}"


# ---------------------------------------------------------------- Stripe


def stripe_dispute(*, charge: str, amount: int = 10000, currency: str = "usd", status: str = "needs_response",
                   reason: str = "fraudulent", brand: str = "visa", network_reason_code: str | None = "10.4",
                   due_by: int | None = None, dispute_id: str | None = None, payment_intent: str | None = None
                   ) -> dict[str, Any]:
    due_by = due_by if due_by is not None else int(time.time()) + 14 * 86400
    return {
        "id": dispute_id or _next("dp"), "object": "dispute", "amount": amount, "balance_transactions": [],
        "charge": charge, "created": int(time.time()) - 60, "currency": currency,
        "evidence": {key: None for key in (
            "access_activity_log", "billing_address", "cancellation_policy", "cancellation_policy_disclosure",
            "cancellation_rebuttal", "customer_communication", "customer_email_address", "customer_name",
            "customer_purchase_ip", "customer_signature", "duplicate_charge_documentation",
            "duplicate_charge_explanation", "duplicate_charge_id", "product_description", "receipt",
            "refund_policy", "refund_policy_disclosure", "refund_refusal_explanation", "service_date",
            "service_documentation", "shipping_address", "shipping_carrier", "shipping_date",
            "shipping_documentation", "shipping_tracking_number", "uncategorized_file", "uncategorized_text")},
        "evidence_details": {"due_by": due_by, "has_evidence": False, "past_due": False, "submission_count": 0},
        "is_charge_refundable": False, "livemode": False, "metadata": {}, "payment_intent": payment_intent,
        "payment_method_details": {"card": {"brand": brand, "case_type": "chargeback",
                                            "network_reason_code": network_reason_code}, "type": "card"},
        "reason": reason, "status": status,
    }


def stripe_refund(*, charge: str, amount: int = 2500, currency: str = "usd", status: str = "succeeded",
                  refund_id: str | None = None, metadata: dict | None = None, failure_reason: str | None = None
                  ) -> dict[str, Any]:
    return {
        "id": refund_id or _next("re"), "object": "refund", "amount": amount, "balance_transaction": None,
        "charge": charge, "created": int(time.time()) - 30, "currency": currency,
        "destination_details": {"card": {"type": "refund"}, "type": "card"}, "metadata": metadata or {},
        "payment_intent": None, "reason": None, "receipt_number": None, "source_transfer_reversal": None,
        "status": status, "transfer_reversal": None, "failure_reason": failure_reason,
    }


def stripe_event(event_type: str, obj: dict[str, Any], *, created: int | None = None, event_id: str | None = None
                 ) -> dict[str, Any]:
    return {
        "id": event_id or _next("evt"), "object": "event", "api_version": "2024-06-20",
        "created": created if created is not None else int(time.time()), "data": {"object": obj},
        "livemode": False, "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def stripe_body(event: dict[str, Any]) -> bytes:
    return json.dumps(event, indent=2).encode()


def stripe_signature(body: bytes, *, secret: str = STRIPE_SECRET, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


# ---------------------------------------------------------------- Adyen


def adyen_item(*, event_code: str, psp_reference: str, original_reference: str, value: int = 10000,
               currency: str = "EUR", success: str = "true", merchant_reference: str = "INV-2026-000123",
               event_date: datetime | str | None = None, reason: str = "", additional: dict | None = None,
               key: str | None = ADYEN_KEY) -> dict[str, Any]:
    if isinstance(event_date, datetime):
        event_date = event_date.isoformat(timespec="seconds")
    item = {
        "additionalData": dict(additional or {}),
        "amount": {"currency": currency, "value": value},
        "eventCode": event_code,
        "eventDate": event_date or "2026-11-20T10:15:30+01:00",
        "merchantAccountCode": "HeliosComputeECOM",
        "merchantReference": merchant_reference,
        "originalReference": original_reference,
        "paymentMethod": "visa",
        "pspReference": psp_reference,
        "reason": reason,
        "success": success,
    }
    if key is not None:
        item["additionalData"]["hmacSignature"] = adyen_signature(item, key=key)
    return item


def adyen_signature(item: dict[str, Any], *, key: str = ADYEN_KEY) -> str:
    fields = [item.get("pspReference", ""), item.get("originalReference", ""), item.get("merchantAccountCode", ""),
              item.get("merchantReference", ""), str(item["amount"]["value"]), item["amount"]["currency"],
              item.get("eventCode", ""), item.get("success", "")]
    signing = ":".join(str(f) for f in fields).encode()
    return base64.b64encode(hmac.new(binascii.a2b_hex(key), signing, hashlib.sha256).digest()).decode()


def adyen_body(*items: dict[str, Any]) -> bytes:
    return json.dumps({"live": "false", "notificationItems": [{"NotificationRequestItem": i} for i in items]}).encode()
