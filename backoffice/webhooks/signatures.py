"""Signature checks with the PSPs' official libraries, several secrets at once (rotation).

* Stripe: ``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` checked by
  ``stripe.WebhookSignature.verify_header`` over the raw bytes against every secret in
  ``STRIPE_WEBHOOK_SECRET`` (comma-separated), with ``WEBHOOK_TOLERANCE_SECONDS`` (300) for old
  timestamps; a timestamp more than ``WEBHOOK_MAX_FUTURE_SECONDS`` ahead of our clock is refused
  too (the SDK only refuses old ones).
* Adyen: each notification item carries ``additionalData.hmacSignature`` (Base64 HMAC-SHA256 with
  the hex key over ``pspReference:originalReference:merchantAccountCode:merchantReference:value:
  currency:eventCode:success``), checked by ``Adyen.util.is_valid_hmac_notification`` against every
  key in ``ADYEN_HMAC_KEY`` (hex, comma-separated).
"""

from __future__ import annotations

import binascii
import time
from typing import Any

import stripe
from Adyen import util as adyen_util
from django.conf import settings


class SignatureRefused(Exception):
    def __init__(self, message: str, *, code: str = "bad_signature"):
        self.code = code
        super().__init__(message)


def _secrets(value: str | list[str] | tuple[str, ...]) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    return [item.strip() for item in items if item and item.strip()]


def stripe_secrets() -> list[str]:
    return _secrets(getattr(settings, "STRIPE_WEBHOOK_SECRET", ""))


def adyen_keys() -> list[str]:
    return _secrets(getattr(settings, "ADYEN_HMAC_KEY", ""))


def _stripe_timestamp(header: str) -> int | None:
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def stripe_verify(*, payload: bytes, header: str | None, now: float | None = None, check_time: bool = True) -> None:
    """Raise ``SignatureRefused`` unless ``header`` signs ``payload`` with one of our secrets, in time.

    ``check_time=False`` re-checks a stored delivery (a replay): the signature must still match, its
    age no longer matters."""
    secrets = stripe_secrets()
    if not secrets:
        raise SignatureRefused("STRIPE_WEBHOOK_SECRET is not set: no delivery can be verified.",
                               code="not_configured")
    if not header:
        raise SignatureRefused("The Stripe-Signature header is missing.")
    timestamp = _stripe_timestamp(header)
    if timestamp is None:
        raise SignatureRefused("The Stripe-Signature header has no timestamp.")
    now = time.time() if now is None else now
    if check_time and timestamp > now + settings.WEBHOOK_MAX_FUTURE_SECONDS:
        raise SignatureRefused("The signature's timestamp is in the future.")
    tolerance = settings.WEBHOOK_TOLERANCE_SECONDS if check_time else None
    last_error = "No signature matches."
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SignatureRefused("The body is not UTF-8 text.", code="malformed") from exc
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(text, header, secret, tolerance=tolerance)
            return
        except stripe.SignatureVerificationError as exc:
            last_error = str(getattr(exc, "user_message", None) or exc)
    raise SignatureRefused(last_error[:300])


def adyen_item_valid(item: dict[str, Any]) -> bool:
    """Whether one NotificationRequestItem is signed by one of our keys (False when unsigned or malformed)."""
    signature = (item.get("additionalData") or {}).get("hmacSignature") if isinstance(item, dict) else None
    if not signature or not isinstance(item.get("amount"), dict):
        return False
    for key in adyen_keys():
        try:
            if adyen_util.is_valid_hmac_notification(item, key):
                return True
        except (ValueError, TypeError, KeyError, binascii.Error):
            continue
    return False
