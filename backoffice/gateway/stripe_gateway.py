"""Refunds through Stripe with the official ``stripe`` SDK.

Settings: ``STRIPE_API_KEY``; ``STRIPE_API_BASE`` (empty = Stripe's own; tests point it at a local
fake server); ``STRIPE_TIMEOUT_SECONDS`` (default 20). The SDK's own network retries are off: the
Celery task retries transient errors with backoff, always with the same ``Idempotency-Key``, so a
timeout after Stripe executed the refund replays Stripe's first answer instead of refunding twice.

Mapping: a created refund's ``status`` ``succeeded`` / ``pending`` / ``requires_action`` /
``failed`` / ``canceled`` → succeeded / pending / pending / failed / failed (``failure_reason`` as
the failure code); API refusals (``charge_already_refunded``, ``charge_disputed``,
``amount_too_large``, card errors …) → failed with Stripe's error code; connection errors,
timeouts, rate limits and 5xx/409 answers → ``GatewayTransientError``.
"""

from __future__ import annotations

import logging

import stripe
from django.conf import settings

from . import GatewayTransientError, RefundRequest, RefundResult, RefundStatus

logger = logging.getLogger("backoffice.gateway.stripe")

# Our refund reasons → Stripe's (others are sent without a reason and kept in metadata).
STRIPE_REASONS = {
    "duplicate_charge": "duplicate",
    "fraud": "fraudulent",
    "customer_request": "requested_by_customer",
}
STATUS_MAP = {
    "succeeded": RefundStatus.SUCCEEDED,
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
}


class StripeGateway:
    name = "stripe"

    def __init__(self, *, api_key: str | None = None, api_base: str | None = None,
                 timeout: float | None = None) -> None:
        self.api_key = api_key if api_key is not None else getattr(settings, "STRIPE_API_KEY", "")
        self.api_base = (api_base if api_base is not None else getattr(settings, "STRIPE_API_BASE", "")) \
            or stripe.DEFAULT_API_BASE
        self.timeout = float(timeout if timeout is not None else settings.STRIPE_TIMEOUT_SECONDS)

    def _client(self) -> stripe.StripeClient:
        return stripe.StripeClient(
            self.api_key,
            base_addresses={"api": self.api_base.rstrip("/")},
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=self.timeout),
        )

    @staticmethod
    def _params(request: RefundRequest) -> dict:
        params: dict = {
            "amount": request.amount_minor,
            "metadata": {"refund_reference": request.reference, "refund_id": str(request.refund_id),
                         "reason": request.reason, "psp_attempt": str(request.attempt), **request.metadata},
        }
        target = "payment_intent" if request.payment_reference.startswith("pi_") else "charge"
        params[target] = request.payment_reference
        if request.reason in STRIPE_REASONS:
            params["reason"] = STRIPE_REASONS[request.reason]
        return params

    def refund(self, request: RefundRequest) -> RefundResult:
        if not self.api_key:
            return RefundResult(RefundStatus.FAILED, failure_code="psp_not_configured",
                                failure_message="STRIPE_API_KEY is not set: nothing was sent to Stripe.")
        try:
            created = self._client().v1.refunds.create(
                params=self._params(request), options={"idempotency_key": request.idempotency_key}
            )
        except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as exc:
            # Unknown outcome (timeout, network, 5xx, 409 lock/in-use): retry with the same key.
            logger.warning("stripe_refund_transient key=%s error=%s", request.idempotency_key, type(exc).__name__)
            raise GatewayTransientError(f"Stripe did not answer: {type(exc).__name__}.",
                                        code="psp_timeout" if isinstance(exc, stripe.APIConnectionError)
                                        else "psp_unavailable") from exc
        except stripe.IdempotencyError as exc:
            return RefundResult(RefundStatus.FAILED, failure_code="idempotency_error",
                                failure_message=str(exc.user_message or exc)[:500])
        except (stripe.AuthenticationError, stripe.PermissionError) as exc:
            return RefundResult(RefundStatus.FAILED, failure_code="psp_authentication_failed",
                                failure_message=str(exc.user_message or exc)[:500])
        except (stripe.CardError, stripe.InvalidRequestError) as exc:
            return RefundResult(RefundStatus.FAILED, failure_code=exc.code or "invalid_request",
                                failure_message=str(exc.user_message or exc)[:500])
        refund = created.to_dict()
        logger.info("stripe_refund key=%s status=%s", request.idempotency_key, refund.get("status"))
        return refund_result(refund)

    def retrieve(self, request: RefundRequest) -> RefundResult:
        """``GET /v1/refunds/{id}``: the refund's current status (never a new refund)."""
        if not self.api_key:
            raise GatewayTransientError("STRIPE_API_KEY is not set: the refund cannot be checked.",
                                        code="psp_not_configured")
        try:
            found = self._client().v1.refunds.retrieve(request.psp_refund_id)
        except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError,
                stripe.AuthenticationError, stripe.PermissionError, stripe.InvalidRequestError) as exc:
            # Nothing is decided by a failed look-up: the refund stays as it is and is asked again later.
            logger.warning("stripe_refund_retrieve_failed id=%s error=%s", request.psp_refund_id, type(exc).__name__)
            raise GatewayTransientError(f"Stripe did not answer the look-up: {type(exc).__name__}.") from exc
        return refund_result(found.to_dict())


def refund_result(refund: dict) -> RefundResult:
    """A Stripe ``refund`` object → ``RefundResult`` (``failure_reason`` as the failure code)."""
    status = STATUS_MAP.get(refund.get("status") or "", RefundStatus.PENDING)
    failure = ""
    if status == RefundStatus.FAILED:
        failure = refund.get("failure_reason") or f"refund_{refund.get('status')}"
    return RefundResult(status, psp_refund_id=refund.get("id") or "", failure_code=failure)
