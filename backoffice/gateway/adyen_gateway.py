"""Refunds (and dispute defences, ``disputes.psp_evidence``) through Adyen with the official ``Adyen``
library.

Settings: ``ADYEN_API_KEY``, ``ADYEN_MERCHANT_ACCOUNT``, ``ADYEN_ENVIRONMENT`` (``test`` / ``live``),
``ADYEN_LIVE_PREFIX`` (live only), ``ADYEN_API_BASE`` (empty = Adyen's own; tests point it at a local
fake), ``ADYEN_TIMEOUT_SECONDS`` (20).

A refund is ``POST /payments/{paymentPspReference}/refunds`` with ``Idempotency-Key`` = our key and
``reference`` = our refund reference. Adyen answers ``received`` with the refund's pspReference:
the outcome arrives later as a ``REFUND`` notification (or ``REFUND_FAILED``). Adyen has no refund
look-up, so ``retrieve`` answers pending: webhooks decide, and a refund without a final answer in
time lands in the "needs attention" list. Connection errors, timeouts and 5xx/404 answers are
transient (retried with the same key); 4xx validation answers fail the refund with Adyen's code.
"""

from __future__ import annotations

import logging
from typing import Any

import Adyen
import requests
from django.conf import settings

from . import GatewayTransientError, RefundRequest, RefundResult, RefundStatus

logger = logging.getLogger("backoffice.gateway.adyen")


def adyen_client() -> Adyen.Adyen:
    """An ``Adyen.Adyen`` for our account, pointed at ``ADYEN_API_BASE`` when set (tests)."""
    client = Adyen.Adyen(
        xapikey=getattr(settings, "ADYEN_API_KEY", "") or None,
        platform=getattr(settings, "ADYEN_ENVIRONMENT", "test") or "test",
        live_endpoint_prefix=getattr(settings, "ADYEN_LIVE_PREFIX", "") or None,
        http_timeout=settings.ADYEN_TIMEOUT_SECONDS,
    )
    base = (getattr(settings, "ADYEN_API_BASE", "") or "").rstrip("/")
    if base:
        client.checkout.modifications_api.baseUrl = f"{base}/checkout"
        client.disputes.disputes_api.baseUrl = f"{base}/disputes"
    return client


def adyen_call(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run one library call; transient failures become ``GatewayTransientError``, the answer a dict."""
    try:
        result = call(*args, **kwargs)
    except (requests.RequestException, OSError) as exc:
        raise GatewayTransientError(f"Adyen did not answer: {type(exc).__name__}.", code="psp_timeout") from exc
    except Adyen.AdyenAPICommunicationError as exc:  # 404 / 500
        raise GatewayTransientError(f"Adyen is unavailable ({exc.status_code}).") from exc
    except (Adyen.AdyenAPIValidationError, Adyen.AdyenAPIUnprocessableEntity, Adyen.AdyenAPIAuthenticationError,
            Adyen.AdyenAPIInvalidPermission):
        raise
    except Adyen.AdyenAPIResponseError as exc:
        if (exc.status_code or 0) >= 500 or exc.status_code in (409, 429):
            raise GatewayTransientError(f"Adyen is unavailable ({exc.status_code}).") from exc
        raise
    return result.message if isinstance(result.message, dict) else {}


class AdyenGateway:
    name = "adyen"

    def refund(self, request: RefundRequest) -> RefundResult:
        if not getattr(settings, "ADYEN_API_KEY", "") or not getattr(settings, "ADYEN_MERCHANT_ACCOUNT", ""):
            return RefundResult(RefundStatus.FAILED, failure_code="psp_not_configured",
                                failure_message="ADYEN_API_KEY / ADYEN_MERCHANT_ACCOUNT are not set: nothing was sent.")
        body = {
            "merchantAccount": settings.ADYEN_MERCHANT_ACCOUNT,
            "amount": {"value": request.amount_minor, "currency": request.currency},
            "reference": request.reference,
        }
        client = adyen_client()
        try:
            answer = adyen_call(client.checkout.modifications_api.refund_captured_payment, body,
                                request.payment_reference, idempotency_key=request.idempotency_key)
        except (Adyen.AdyenAPIValidationError, Adyen.AdyenAPIUnprocessableEntity) as exc:
            return RefundResult(RefundStatus.FAILED, failure_code=str(exc.error_code or "invalid_request"),
                                failure_message=str(exc.message)[:500])
        except (Adyen.AdyenAPIAuthenticationError, Adyen.AdyenAPIInvalidPermission) as exc:
            return RefundResult(RefundStatus.FAILED, failure_code="psp_authentication_failed",
                                failure_message=str(exc.message)[:500])
        except Adyen.AdyenAPIResponseError as exc:
            return RefundResult(RefundStatus.FAILED, failure_code=str(exc.error_code or "refused"),
                                failure_message=str(exc.message)[:500])
        logger.info("adyen_refund key=%s status=%s", request.idempotency_key, answer.get("status"))
        return RefundResult(RefundStatus.PENDING, psp_refund_id=str(answer.get("pspReference") or ""))

    def retrieve(self, request: RefundRequest) -> RefundResult:
        """Adyen has no refund look-up: the REFUND notification decides."""
        return RefundResult(RefundStatus.PENDING, psp_refund_id=request.psp_refund_id)
