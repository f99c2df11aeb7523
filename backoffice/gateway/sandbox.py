"""The sandbox PSP: deterministic outcomes chosen by the last two digits of the amount in minor units.

=====================  ==========================================================================
amount ends in         what the sandbox does
=====================  ==========================================================================
``13``                 declines: ``failed`` with ``expired_card``
``14``                 declines: ``failed`` with ``account_closed``
``57``                 executes the refund but the answer is lost: the first call raises a
                       timeout (``GatewayTransientError``); a retry with the same idempotency key
                       answers ``succeeded`` with the same refund id (one refund, not two)
``66``                 answers ``pending`` first (final answer later); the next call with the
                       same key answers ``succeeded``
anything else          ``succeeded``
=====================  ==========================================================================

Like a real PSP it remembers every idempotency key (table ``gateway_sandboxrefund``): the same key
replays the first outcome and never refunds twice; the same key with another amount or payment
is refused with ``idempotency_error``.
"""

from __future__ import annotations

import logging
import uuid

from django.db import IntegrityError, transaction

from . import GatewayTransientError, RefundRequest, RefundResult, RefundStatus
from .models import SandboxRefund

logger = logging.getLogger("backoffice.gateway.sandbox")

DECLINES = {
    13: ("expired_card", "The customer's card has expired."),
    14: ("account_closed", "The customer's bank account has been closed."),
}
TIMEOUT_ONCE = 57
PENDING_ONCE = 66


class SandboxGateway:
    name = "sandbox"

    def refund(self, request: RefundRequest) -> RefundResult:
        lost_answer = False
        with transaction.atomic():
            row = self._row_for(request)
            if row.amount_minor != request.amount_minor or row.payment_reference != request.payment_reference:
                return RefundResult(
                    RefundStatus.FAILED,
                    failure_code="idempotency_error",
                    failure_message="This idempotency key was already used for a different refund.",
                )
            row.attempts += 1
            ending = request.amount_minor % 100
            if row.status in (RefundStatus.SUCCEEDED, RefundStatus.FAILED):
                pass  # replay the first outcome
            elif ending in DECLINES:
                row.status, row.failure_code = RefundStatus.FAILED, DECLINES[ending][0]
            elif ending == PENDING_ONCE and row.attempts == 1:
                row.status = RefundStatus.PENDING
            else:
                row.status = RefundStatus.SUCCEEDED
                lost_answer = ending == TIMEOUT_ONCE and row.attempts == 1
            row.save(update_fields=["attempts", "status", "failure_code", "updated_at"])
        logger.info("sandbox_refund key=%s status=%s attempt=%s", request.idempotency_key, row.status, row.attempts)
        if lost_answer:
            raise GatewayTransientError("The sandbox PSP timed out (the refund was executed).", code="psp_timeout")
        message = DECLINES.get(request.amount_minor % 100, ("", ""))[1] if row.status == RefundStatus.FAILED else ""
        return RefundResult(row.status, psp_refund_id=row.psp_refund_id, failure_code=row.failure_code,
                            failure_message=message)

    @staticmethod
    def _row_for(request: RefundRequest) -> SandboxRefund:
        """The key's row, locked; created on the first call (a concurrent first call waits, then reads it)."""
        row = SandboxRefund.objects.select_for_update().filter(idempotency_key=request.idempotency_key).first()
        if row is not None:
            return row
        try:
            with transaction.atomic():
                return SandboxRefund.objects.create(
                    idempotency_key=request.idempotency_key,
                    psp_refund_id=f"sbx_re_{uuid.uuid4().hex[:24]}",
                    payment_reference=request.payment_reference,
                    amount_minor=request.amount_minor,
                    currency=request.currency,
                    status="new",
                )
        except IntegrityError:
            return SandboxRefund.objects.select_for_update().get(idempotency_key=request.idempotency_key)
