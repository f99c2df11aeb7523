"""Refund writes that a PSP reports or that settlement needs (webhooks, the refund task's polling).

* ``refund_apply_psp_status``: the PSP's answer for one of our refunds — through
  ``refund_record_psp_result`` while it is ``processing``; a failure reported after it had
  ``succeeded`` takes ``mark_failed`` (its credit note is voided) and tells the team leads.
* ``refund_record_external``: a refund made at the PSP (Stripe dashboard, Adyen Customer Area)
  appears as a refund case already ``succeeded``, requested by the PSP's service user, and counts
  against the payment's refundable amount; one above what was left (or made while a dispute is open)
  is flagged for a team lead, not refused (the money has already left).
* ``refund_flag_needs_attention``: no final answer within ``REFUND_PSP_GIVE_UP_HOURS``: retrying
  stops and the refund is listed for the team leads (``/refunds/needs-attention/``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from backoffice.cases.services import case_assign_reference, case_journal_created
from backoffice.cases.transitions import Transition, TransitionRun, lock_case
from backoffice.gateway import RefundResult, RefundStatus
from backoffice.journal.services import journal_record
from backoffice.money import format_minor
from backoffice.notifications.services import alert_claim_and_notify, team_leads
from invoices.ledger import payment_balance, payment_lock
from invoices.models import Payment

from .models import Refund, RefundReason, RefundState
from .services import refund_record_psp_result

logger = logging.getLogger("refunds.psp")

PSP_USERS = {"stripe": "psp-stripe", "adyen": "psp-adyen", "sandbox": "psp-sandbox"}


def psp_user(psp: str) -> Any:
    """The inactive service user that "requested" refunds made at the PSP (it can never log in)."""
    username = PSP_USERS.get(psp, f"psp-{psp}"[:150])
    user, created = get_user_model().objects.get_or_create(
        username=username, defaults={"is_active": False, "first_name": f"{psp.title()} (PSP)"})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def refund_find_psp(*, psp_refund_id: str, reference: str = "") -> Refund | None:
    """Our refund by the PSP's refund id, else by the reference / id we sent with it (an answer we never
    heard, e.g. a timeout after the PSP executed the refund)."""
    if psp_refund_id:
        found = Refund.objects.filter(psp_refund_id=psp_refund_id).first()
        if found is not None:
            return found
    if reference.startswith(Refund.REFERENCE_PREFIX + "-"):
        return Refund.objects.filter(reference=reference.split("-attempt-")[0]).first()
    return None


def _notify_leads(*, refund: Refund, kind: str, title: str, body: str, when: datetime) -> None:
    alert_claim_and_notify(
        case_type=Refund.CASE_TYPE, case_id=refund.pk, case_reference=refund.reference or "", kind=kind,
        due_at=when, offset_days=0, recipients=team_leads(), title=title, body=body,
        url=reverse("refunds:detail", args=[refund.pk]),
    )


def refund_apply_psp_status(*, refund: Refund, result: RefundResult, actor: Any) -> tuple[Refund, str]:
    """Apply the PSP's status for ``refund``; returns it and what was done ("" for nothing)."""
    if result.psp_refund_id and refund.psp_refund_id and result.psp_refund_id != refund.psp_refund_id:
        return refund, ""  # about an earlier submission generation (a lead retried since): not this one
    if refund.state == RefundState.PROCESSING:
        if result.status == RefundStatus.PENDING and (not result.psp_refund_id
                                                     or result.psp_refund_id == refund.psp_refund_id):
            return refund, ""
        updated = refund_record_psp_result(refund_id=refund.pk, result=result, attempt=None, actor=actor)
        done = {RefundStatus.SUCCEEDED: "mark_succeeded", RefundStatus.FAILED: "mark_failed"}.get(
            result.status, "psp_refund_id recorded")
        return updated or refund, done
    if refund.state == RefundState.SUCCEEDED and result.status == RefundStatus.FAILED:
        return refund_fail_after_success(refund=refund, result=result, actor=actor), "mark_failed (after success)"
    return refund, ""


def _late_failure_context(run: TransitionRun) -> dict[str, Any]:
    result: RefundResult = run.params["result"]
    return {"psp_refund_id": result.psp_refund_id or run.case.psp_refund_id, "failure_code": result.failure_code,
            "amount_minor": run.case.amount_minor, "currency": run.case.currency, "credit_note_voided": True}


# succeeded → failed: the PSP takes back a refund it had confirmed (the model voids the credit note).
MARK_FAILED_AFTER_SUCCESS = Transition(
    model=Refund, name="mark_failed", nowait=False,
    arguments=lambda run: {"failure_code": run.params["result"].failure_code or "refund_failed",
                           "failure_message": run.params["result"].failure_message},
    journal=_late_failure_context,
)


def refund_fail_after_success(*, refund: Refund, result: RefundResult, actor: Any) -> Refund:
    """succeeded → failed because the PSP says so: the credit note is voided, the amount is refundable
    again, the team leads are told (once)."""
    with transaction.atomic():
        payment_lock(refund.payment_id)
        failed = MARK_FAILED_AFTER_SUCCESS.run(
            pk=refund.pk, actor=actor, expected_state=RefundState.SUCCEEDED, params={"result": result},
            reason=result.failure_message or f"The PSP reported the refund failed ({result.failure_code}).",
        )
        _notify_leads(
            refund=failed, kind="late_failure", when=failed.succeeded_at or failed.created_at,
            title=f"{failed.reference}: refund failed after it succeeded",
            body=(f"The PSP reported {failed.reference} ({format_minor(failed.amount_minor, failed.currency)}) "
                  f"failed ({result.failure_code or 'no code'}) after it had succeeded. Its credit note is void "
                  "and the customer was not refunded: decide whether to retry."),
        )
    logger.warning("refund_failed_after_success refund_id=%s code=%s", refund.pk, result.failure_code)
    return failed


def refund_record_external(*, payment: Payment, amount_minor: int, currency: str, psp_refund_id: str, actor: Any,
                           note: str = "") -> Refund:
    """A refund made at the PSP, recorded as a refund case already ``succeeded`` (idempotent by PSP id)."""
    existing = Refund.objects.filter(psp_refund_id=psp_refund_id).first()
    if existing is not None:
        return existing
    now = timezone.now()
    try:
        with transaction.atomic():
            locked = payment_lock(payment.pk)
            balance = payment_balance(payment_id=locked.pk)
            left = balance.refundable_minor
            exceeds = currency != locked.currency or amount_minor > left
            disputed = balance.has_undecided_dispute
            refund = Refund.objects.create(
                payment=locked, amount_minor=amount_minor, currency=currency, reason=RefundReason.OTHER,
                note=note or f"Refunded at {locked.get_psp_display()} ({psp_refund_id}).",
                requester=psp_user(locked.psp), psp_refund_id=psp_refund_id, state=RefundState.SUCCEEDED,
                submitted_at=now, succeeded_at=now, decided_at=now,
                needs_attention_at=now if exceeds or disputed else None,
                attention_reason=_external_attention(exceeds=exceeds, disputed=disputed, left=left,
                                                     currency=locked.currency),
            )
            case_assign_reference(case=refund)
            case_journal_created(case=refund, actor=actor, reason=refund.note, context={
                "payment_id": locked.pk, "amount_minor": amount_minor, "currency": currency,
                "psp_refund_id": psp_refund_id, "source": "psp", "refundable_before_minor": left,
                "exceeds_refundable": exceeds, "payment_disputed": disputed})
            if exceeds or disputed:
                _notify_leads(refund=refund, kind="psp_attention", when=now,
                              title=f"{refund.reference}: refunded at the PSP beyond what was left"
                              if exceeds else f"{refund.reference}: refunded at the PSP while a dispute is open",
                              body=refund.attention_reason)
    except IntegrityError:
        existing = Refund.objects.filter(psp_refund_id=psp_refund_id).first()
        if existing is None:
            raise
        return existing
    logger.info("refund_recorded_external refund_id=%s psp_refund_id=%s", refund.pk, psp_refund_id)
    return refund


def _external_attention(*, exceeds: bool, disputed: bool, left: int, currency: str) -> str:
    if exceeds:
        return f"Refunded at the PSP beyond what was left ({format_minor(left, currency)})."
    if disputed:
        return "Refunded at the PSP while a dispute on the payment is open: the customer may be paid twice."
    return ""


def refund_flag_needs_attention(*, refund_id: int, reason: str, actor: Any) -> Refund | None:
    """Stop retrying a refund and list it for the team leads (once); None when it is no longer processing."""
    with transaction.atomic():
        refund = lock_case(Refund, refund_id, nowait=False)
        if refund.state != RefundState.PROCESSING or refund.needs_attention_at is not None:
            return None
        now = timezone.now()
        Refund.objects.filter(pk=refund.pk).update(needs_attention_at=now, attention_reason=reason[:300])
        refund.needs_attention_at, refund.attention_reason = now, reason[:300]
        journal_record(case_type=Refund.CASE_TYPE, case_id=refund.pk, case_reference=refund.reference or "",
                       transition="needs_attention", source=refund.state, target=refund.state, actor=actor,
                       reason=reason, context={"psp_refund_id": refund.psp_refund_id,
                                               "psp_attempt": refund.psp_attempt})
        _notify_leads(refund=refund, kind="psp_attention", when=refund.submitted_at or now,
                      title=f"{refund.reference}: no final answer from the PSP", body=reason)
    logger.warning("refund_needs_attention refund_id=%s", refund_id)
    return refund
