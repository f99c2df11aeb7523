"""The payment-gateway interface: how a refund leaves the company.

``get_gateway()`` returns the implementation named by ``settings.PAYMENT_GATEWAY``:

* ``sandbox`` (the default, ``backoffice.gateway.sandbox``): deterministic outcomes chosen by the
  amount, remembered per idempotency key in the ``gateway_sandboxrefund`` table, so failures and
  retries can be shown without a PSP account;
* ``stripe`` (``backoffice.gateway.stripe_gateway``): the official ``stripe`` SDK;
* ``adyen`` (``backoffice.gateway.adyen_gateway``): the official ``Adyen`` library (Checkout API).

``gateway_for(psp)`` is what the refund task uses: ``PAYMENT_GATEWAY`` names the gateway for every
refund, or is ``psp`` to send each refund to the PSP that took its payment (Stripe or Adyen), so one
installation can settle refunds with both.

A refund that already has a PSP refund id is never created again: ``retrieve`` asks the PSP for
its current status instead (the refund task's polling; webhooks usually answer first).

A gateway is called outside any database transaction and row lock. It answers with a
``RefundResult`` (succeeded, pending or failed with a failure code) or raises
``GatewayTransientError`` when the outcome is unknown (timeout, network error, PSP 5xx, rate
limit): the caller must then retry with the *same* idempotency key, so a timeout never turns into
two refunds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

__all__ = [
    "GATEWAYS",
    "GatewayTransientError",
    "PaymentGateway",
    "RefundRequest",
    "RefundResult",
    "RefundStatus",
    "gateway_for",
    "get_gateway",
]


class RefundStatus:
    SUCCEEDED = "succeeded"
    PENDING = "pending"  # accepted by the PSP, final answer later (webhook or a later call)
    FAILED = "failed"


@dataclass(frozen=True)
class RefundRequest:
    """Everything a PSP needs to refund part of a captured payment. Amounts in minor units."""

    refund_id: int
    reference: str
    idempotency_key: str
    psp: str  # the payment's PSP ("stripe", "adyen", "sandbox")
    payment_reference: str  # the PSP's charge / payment-intent id
    amount_minor: int
    currency: str
    reason: str = ""
    attempt: int = 1  # the submission generation this key belongs to (transient retries keep it)
    metadata: dict[str, str] = field(default_factory=dict)
    psp_refund_id: str = ""  # set once the PSP named the refund: then it is retrieved, never created again


@dataclass(frozen=True)
class RefundResult:
    status: str  # a RefundStatus value
    psp_refund_id: str = ""
    failure_code: str = ""
    failure_message: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status == RefundStatus.SUCCEEDED

    @property
    def failed(self) -> bool:
        return self.status == RefundStatus.FAILED


class GatewayTransientError(Exception):
    """The outcome is unknown (timeout, connection error, PSP 5xx, rate limit): retry with the same key."""

    def __init__(self, message: str, *, code: str = "psp_unavailable"):
        self.code = code
        super().__init__(message)


class PaymentGateway(Protocol):
    name: str

    def refund(self, request: RefundRequest) -> RefundResult:
        """Refund ``request.amount_minor``; the same ``idempotency_key`` never refunds twice."""
        ...

    def retrieve(self, request: RefundRequest) -> RefundResult:
        """The current status of the refund ``request.psp_refund_id`` (pending until the PSP decides)."""
        ...


BY_PSP = "psp"  # PAYMENT_GATEWAY value: route each refund to its payment's PSP
GATEWAYS = {
    "sandbox": "backoffice.gateway.sandbox.SandboxGateway",
    "stripe": "backoffice.gateway.stripe_gateway.StripeGateway",
    "adyen": "backoffice.gateway.adyen_gateway.AdyenGateway",
}


def get_gateway(name: str | None = None) -> PaymentGateway:
    """The gateway named by ``name`` or ``settings.PAYMENT_GATEWAY`` (default ``sandbox``)."""
    key = (name or getattr(settings, "PAYMENT_GATEWAY", "") or "sandbox").strip().lower()
    try:
        path = GATEWAYS[key]
    except KeyError as exc:
        raise ImproperlyConfigured(
            f"PAYMENT_GATEWAY={key!r} is not a gateway; use one of {', '.join(sorted(GATEWAYS))}."
        ) from exc
    return import_string(path)()


def gateway_for(psp: str) -> PaymentGateway:
    """The gateway for a refund of a payment taken by ``psp``: ``PAYMENT_GATEWAY=psp`` sends each refund
    to the PSP that took its payment (Stripe or Adyen; a ``sandbox`` payment to the sandbox); any other
    value names the one gateway every refund goes to (``sandbox``, the default, or ``stripe`` …)."""
    configured = (getattr(settings, "PAYMENT_GATEWAY", "") or "sandbox").strip().lower()
    if configured == BY_PSP:
        return get_gateway(psp if psp in GATEWAYS else "sandbox")
    return get_gateway(configured)
