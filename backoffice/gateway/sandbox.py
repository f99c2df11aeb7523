"""The sandbox PSP: deterministic outcomes chosen by the last two digits of the amount in minor units.

=====================  ==========================================================================
amount ends in         what the sandbox does
=====================  ==========================================================================
``13``                 declines: ``failed`` with ``expired_card``
``14``                 declines: ``failed`` with ``account_closed``
``57``                 executes the refund but the answer is lost: the first call raises a
                       timeout (``GatewayTransientError``); a retry with the same idempotency key
                       answers ``succeeded`` with the same refund id (one refund, not two)
``66``                 answers ``pending``; the refund settles later: ``retrieve`` (the refund
                       task's polling) then finds it ``succeeded``
``67``                 answers ``pending``; it settles as ``failed`` (``expired_or_canceled_card``)
anything else          ``succeeded``
=====================  ==========================================================================

Like Stripe it remembers every idempotency key (table ``gateway_sandboxrefund``): the same key
replays the *first answer* (also ``pending`` after the refund settled) and never refunds twice;
the same key with another amount or payment is refused with ``idempotency_error``.
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
SETTLES_SUCCEEDED = 66
SETTLES_FAILED = 67
LATE_FAILURE = ("expired_or_canceled_card", "The customer's card was cancelled before the refund settled.")


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
            if not row.first_answer:
                if ending in DECLINES:
                    row.status, row.failure_code = RefundStatus.FAILED, DECLINES[ending][0]
                elif ending in (SETTLES_SUCCEEDED, SETTLES_FAILED):
                    row.status = RefundStatus.PENDING
                else:
                    row.status = RefundStatus.SUCCEEDED
                row.first_answer = row.status
            lost_answer = ending == TIMEOUT_ONCE and row.attempts == 1
            row.save(update_fields=["attempts", "status", "first_answer", "failure_code", "updated_at"])
        logger.info("sandbox_refund key=%s answer=%s attempt=%s", request.idempotency_key, row.first_answer,
                    row.attempts)
        if lost_answer:
            raise GatewayTransientError("The sandbox PSP timed out (the refund was executed).", code="psp_timeout")
        return self._result(row, row.first_answer)

    def retrieve(self, request: RefundRequest) -> RefundResult:
        """The refund's current status; a pending one settles now (…66 succeeds, …67 fails)."""
        with transaction.atomic():
            row = SandboxRefund.objects.select_for_update().filter(psp_refund_id=request.psp_refund_id).first()
            if row is None:
                return RefundResult(RefundStatus.PENDING, psp_refund_id=request.psp_refund_id)
            if row.status == RefundStatus.PENDING:
                if row.amount_minor % 100 == SETTLES_FAILED:
                    row.status, row.failure_code = RefundStatus.FAILED, LATE_FAILURE[0]
                else:
                    row.status = RefundStatus.SUCCEEDED
                row.save(update_fields=["status", "failure_code", "updated_at"])
        return self._result(row, row.status)

    @staticmethod
    def _result(row: SandboxRefund, status: str) -> RefundResult:
        message = ""
        if status == RefundStatus.FAILED:
            message = dict(DECLINES.values()).get(row.failure_code) or (
                LATE_FAILURE[1] if row.failure_code == LATE_FAILURE[0] else "")
        return RefundResult(status, psp_refund_id=row.psp_refund_id,
                            failure_code=row.failure_code if status == RefundStatus.FAILED else "",
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
