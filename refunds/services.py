"""Every write to refunds. Typed, keyword-only, one transaction each, locks in the order ``invoices.ledger`` states.

People: ``refund_request``, ``refund_approve``, ``refund_reject``, ``refund_cancel``, ``refund_retry``.
System (the Celery task, webhooks): ``refund_submission_start``, ``refund_record_psp_result``.
``refund_transition`` dispatches a transition name from the API, the pages and the admin.

The PSP is never called here: approval and retry enqueue ``refunds.submit_refund`` on commit,
and the task calls the gateway outside any transaction. Every refusal raises a
``backoffice.errors`` domain error with a stable code and is recorded as a denied attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from backoffice.actors import CELERY, actor_label
from backoffice.cases.services import case_assign_reference, case_journal_created
from backoffice.cases.transitions import Transition, TransitionRun, lock_case, run_transition
from backoffice.denials import refusals_recorded
from backoffice.errors import (
    BusinessRuleViolation,
    ConcurrentChange,
    Conflict,
    DomainError,
    IdempotencyMismatch,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from backoffice.gateway import RefundRequest, RefundResult, RefundStatus
from backoffice.journal.services import journal_record
from backoffice.money import format_minor
from backoffice.notifications.services import alert_claim_and_notify, team_leads
from backoffice.parsing import refuse_card_numbers
from backoffice.roles.predicates import is_worker
from invoices.ledger import payment_balance, payment_lock
from invoices.models import Payment

from .models import Refund, RefundApproval, RefundReason, RefundState
from .policy import decision_refusal, needs_second_approval
from .selectors import recent_duplicates

logger = logging.getLogger("refunds")

NOTE_MAX_CHARS = 2000
REASON_MAX_CHARS = 2000


# ---------------------------------------------------------------- helpers

def _money_refusal(payment: Payment, amount_minor: int | None = None) -> DomainError | None:
    """The refund invariant (``invoices.ledger``), read under the payment's lock.

    ``amount_minor``: a refund not counted yet (a request, a retry of a failed one) must fit in what
    is left. None: the refund is already counted (an approval, the submission) and the payment's
    held refunds plus lost disputes must still be within what it captured — a dispute lost or
    accepted since the request may have taken the rest.
    """
    balance = payment_balance(payment_id=payment.pk)
    cur = payment.currency
    if balance.has_undecided_dispute:
        return BusinessRuleViolation(
            f"Payment {payment.psp_reference} has an open dispute: it cannot be refunded until the dispute is "
            "resolved (the customer would be paid twice).",
            code="payment_disputed",
        )
    if amount_minor is not None and amount_minor > balance.refundable_minor:
        left = balance.refundable_minor
        return BusinessRuleViolation(
            f"{format_minor(amount_minor, cur)} is more than is left to refund on payment {payment.psp_reference}: "
            f"{format_minor(left, cur)} left of {format_minor(payment.amount_minor, cur)} captured.",
            code="refund_exceeds_refundable",
            extra={"refundable_minor": left, "currency": cur},
        )
    if amount_minor is None and not balance.within_captured:
        over = (f"{format_minor(balance.excess_minor, cur)} more than" if not balance.lost_elsewhere
                else "possibly more than (a dispute in another currency was lost)")
        return BusinessRuleViolation(
            f"Payment {payment.psp_reference}'s refunds and lost, accepted or expired disputes come to {over} the "
            f"{format_minor(payment.amount_minor, cur)} captured: this refund can no longer go out. "
            "Reject or cancel refunds on this payment until they fit.",
            code="refund_exceeds_refundable",
            extra={"refundable_minor": 0, "excess_minor": balance.excess_minor, "currency": cur},
        )
    return None


def _check_money(payment: Payment, amount_minor: int | None = None) -> None:
    refusal = _money_refusal(payment, amount_minor)
    if refusal is not None:
        raise refusal


def _refuse_if_possible_duplicate(payment: Payment, amount_minor: int) -> None:
    """A refund of this amount on this payment was requested in the last 24 hours: ask before a second one."""
    earlier = recent_duplicates(payment_id=payment.pk, amount_minor=amount_minor)
    if earlier:
        first = earlier[0]
        raise Conflict(
            f"{first.reference} already refunds {format_minor(amount_minor, payment.currency)} on payment "
            f"{payment.psp_reference} (requested {first.created_at:%Y-%m-%d %H:%M} UTC, now "
            f"{first.get_state_display().lower()}). Confirm if a second refund of the same amount is intended.",
            code="possible_duplicate",
            extra={"duplicates": [refund.reference for refund in earlier]},
        )


def _reason_required(run: TransitionRun) -> None:
    if not run.reason:
        raise InvalidInput(f"Give a reason to {run.name} {run.case.reference}.", code="reason_required")
    if len(run.reason) > REASON_MAX_CHARS:
        raise InvalidInput(f"A reason is limited to {REASON_MAX_CHARS} characters.", code="reason_too_long")


def _enqueue_submission(case: Refund) -> None:
    """After commit, send the refund to the PSP (a broker failure is logged; the sweeper re-sends)."""
    from .tasks import enqueue_submit

    refund_id = case.pk

    def submit_after_commit() -> None:
        enqueue_submit(refund_id)

    transaction.on_commit(submit_after_commit, robust=True)


def _context(case: Refund, **extra: Any) -> dict[str, Any]:
    return {"amount_minor": case.amount_minor, "currency": case.currency, "payment_id": case.payment_id, **extra}


# ---------------------------------------------------------------- people

def refund_request(
    *,
    payment: Payment,
    requester: Any,
    amount_minor: int,
    reason: str,
    note: str = "",
    currency: str | None = None,
    idempotency_key: str | None = None,
    confirm_duplicate: bool = False,
) -> Refund:
    """File a refund request on ``payment`` for ``amount_minor`` of its currency; it waits for approval.

    Under the payment's row lock: refused ``payment_disputed`` while a dispute is open and
    ``refund_exceeds_refundable`` above what is left. The same ``idempotency_key`` from the same
    requester returns the first refund (another request with it is ``idempotency_key_reused``).
    A refund of the same amount on the same payment as one requested in the last
    ``DUPLICATE_WINDOW`` is refused ``possible_duplicate`` unless ``confirm_duplicate``.
    """
    key = (idempotency_key or "").strip() or None
    note = (note or "").strip()
    refuse_card_numbers(note, field="note")
    with refusals_recorded(model=Refund, action="create", actor=requester, context={"payment_id": payment.pk}):
        if not is_worker(requester):
            raise PermissionDenied("Only billing specialists and team leads request refunds.")
        if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
            raise InvalidInput("The amount must be a whole number of minor units.", code="invalid_amount")
        if amount_minor <= 0:
            raise InvalidInput("The amount must be greater than zero.", code="amount_not_positive")
        if reason not in RefundReason.values:
            raise InvalidInput(f"Choose a reason: {', '.join(RefundReason.values)}.", code="invalid_reason")
        if currency and currency.strip().upper() != payment.currency:
            raise InvalidInput(f"A refund is in its payment's currency, {payment.currency}, not {currency}.",
                               code="currency_mismatch")
        if len(note) > NOTE_MAX_CHARS:
            raise InvalidInput(f"A note is limited to {NOTE_MAX_CHARS} characters.", code="note_too_long")
        if key is not None and len(key) > 255:
            raise InvalidInput("An idempotency key is limited to 255 characters.", code="invalid_idempotency_key")
        fields = {"payment_id": payment.pk, "amount_minor": amount_minor, "reason": reason, "note": note}
        try:
            with transaction.atomic():
                locked = payment_lock(payment.pk)
                if key is not None:
                    existing = _existing_for_key(requester=requester, key=key, fields=fields)
                    if existing is not None:
                        return existing
                _check_money(locked, amount_minor)
                if not confirm_duplicate:
                    _refuse_if_possible_duplicate(locked, amount_minor)
                due = timezone.now() + timedelta(hours=settings.REFUND_APPROVAL_SLA_HOURS)
                refund = Refund.objects.create(
                    payment=locked, amount_minor=amount_minor, currency=locked.currency, reason=reason, note=note,
                    requester=requester, assignee=requester, idempotency_key=key, due_at=due, internal_due_at=due,
                )
                case_assign_reference(case=refund)
                case_journal_created(case=refund, actor=requester, reason=note,
                                     context=_context(refund, reason_code=reason,
                                                      **({"confirmed_duplicate": True} if confirm_duplicate
                                                         else {})))
        except IntegrityError:
            # A concurrent request with the same key won the unique constraint: answer with its refund.
            existing = _existing_for_key(requester=requester, key=key, fields=fields) if key else None
            if existing is None:
                raise
            return existing
    logger.info("refund_requested refund_id=%s payment_id=%s actor=%s", refund.pk, payment.pk, actor_label(requester))
    return refund


def _existing_for_key(*, requester: Any, key: str, fields: dict[str, Any]) -> Refund | None:
    existing = Refund.objects.filter(requester_id=requester.pk, idempotency_key=key).first()
    if existing is None:
        return None
    if any(getattr(existing, name) != value for name, value in fields.items()):
        raise IdempotencyMismatch("This idempotency key was already used for a different refund request.")
    return existing


# ---------------------------------------------------------------- the transitions, declared once
# Approve and retry move money: their services lock the payment first (``invoices.ledger``'s lock
# order) and pass it as ``params["payment"]``; the guards re-check the refund invariant under that lock.

def _decision_refusal(run: TransitionRun) -> DomainError | None:
    """``refunds.policy``: never one's own request, within the approver's limit, two different approvers."""
    return decision_refusal(refund=run.case, user=run.actor)


def _note_step(run: TransitionRun) -> None:
    run.context["step"] = 2 if run.case.state == RefundState.PENDING_SECOND_APPROVAL else 1


def _still_within_captured(run: TransitionRun) -> None:
    _check_money(run.params["payment"])


def _record_decision(run: TransitionRun) -> None:
    RefundApproval.objects.create(
        refund=run.case, approver=run.actor, step=run.context["step"], reason=run.reason,
        decision=RefundApproval.Decision.REJECTED if run.name == "reject" else RefundApproval.Decision.APPROVED,
    )


def _submit_once_approved(run: TransitionRun) -> None:
    if run.case.state == RefundState.APPROVED and run.params.get("submit", True):
        _enqueue_submission(run.case)


def _same_generation(run: TransitionRun) -> None:
    case = run.case
    if case.psp_attempt != run.params["attempt"]:
        raise ConcurrentChange(f"{case.reference} was retried meanwhile (attempt {case.psp_attempt}): "
                               "reload it and decide again.")


def _fits_again(run: TransitionRun) -> None:
    _check_money(run.params["payment"], run.case.amount_minor)


def _journal_context(run: TransitionRun) -> dict[str, Any]:
    return _context(run.case)


def _attempt_context(run: TransitionRun) -> dict[str, Any]:
    return _context(run.case, psp_attempt=run.case.psp_attempt)


def _psp_answer_context(run: TransitionRun) -> dict[str, Any]:
    result: RefundResult = run.params["result"]
    context = {"psp_refund_id": result.psp_refund_id, "psp_attempt": run.case.psp_attempt,
               "amount_minor": run.case.amount_minor, "currency": run.case.currency}
    if run.name == "mark_failed":
        context["failure_code"] = result.failure_code
    return context


APPROVE = Transition(
    model=Refund, name="approve", refusal=_decision_refusal,
    guards=(_reason_required, _note_step, _still_within_captured),
    arguments=lambda run: {"needs_second_approval": needs_second_approval(refund=run.case)},
    effects=(_record_decision, _submit_once_approved), journal=_journal_context,
)
REJECT = Transition(model=Refund, name="reject", refusal=_decision_refusal, guards=(_reason_required, _note_step),
                    effects=(_record_decision,), journal=_journal_context)
CANCEL = Transition(model=Refund, name="cancel",
                    journal=lambda run: {"amount_minor": run.case.amount_minor, "currency": run.case.currency})
RETRY = Transition(model=Refund, name="retry", guards=(_reason_required, _same_generation, _fits_again),
                   effects=(lambda run: _enqueue_submission(run.case),), journal=_attempt_context)
SUBMIT = Transition(model=Refund, name="submit", nowait=False, journal=_attempt_context)
MARK_SUCCEEDED = Transition(model=Refund, name="mark_succeeded", nowait=False,
                            arguments=lambda run: {"psp_refund_id": run.params["result"].psp_refund_id},
                            journal=_psp_answer_context)
MARK_FAILED = Transition(
    model=Refund, name="mark_failed", nowait=False,
    arguments=lambda run: {"failure_code": run.params["result"].failure_code or "refund_failed",
                           "failure_message": run.params["result"].failure_message,
                           "psp_refund_id": run.params["result"].psp_refund_id},
    journal=_psp_answer_context,
)


def refund_approve(*, refund: Refund, actor: Any, reason: str, expected_state: str | None = None,
                   submit: bool = True) -> Refund:
    """Approve as ``actor`` (within their limit, never their own request).

    At or above the currency's dual-approval threshold the first approval moves the refund to
    ``pending_second_approval``; the second, by another approver, to ``approved``. Once approved
    the PSP submission is enqueued on commit (``submit=False`` leaves it ``approved`` for the
    sweeper, e.g. for demo data). The payment is locked first and the refund invariant re-checked.
    """
    with refusals_recorded(model=Refund, action="approve", actor=actor, case=refund):
        with transaction.atomic():
            payment = payment_lock(refund.payment_id)
            return APPROVE.run(pk=refund.pk, actor=actor, reason=(reason or "").strip(),
                               expected_state=expected_state, params={"payment": payment, "submit": submit})


def refund_reject(*, refund: Refund, actor: Any, reason: str, expected_state: str | None = None) -> Refund:
    """Reject as ``actor`` (same rules as approving); the amount becomes refundable again."""
    return REJECT.run(pk=refund.pk, actor=actor, reason=(reason or "").strip(), expected_state=expected_state)


def refund_cancel(*, refund: Refund, actor: Any, reason: str = "", expected_state: str | None = None) -> Refund:
    """The requester or a team lead withdraws a refund not yet sent to the PSP."""
    return CANCEL.run(pk=refund.pk, actor=actor, reason=(reason or "").strip(), expected_state=expected_state)


def refund_retry(*, refund: Refund, actor: Any, reason: str, expected_state: str | None = None,
                 expected_attempt: int | None = None) -> Refund:
    """A team lead sends a failed refund again (a new PSP idempotency key: the failed attempt stays failed).

    Under the payment's lock the refund must still fit in what is refundable and the payment must
    not be disputed meanwhile. A retry is for the submission generation the caller saw
    (``expected_attempt``, by default ``refund.psp_attempt`` as passed in): when someone else retried
    it meanwhile — even if that retry has failed again already — this one is refused
    ``concurrent_change``, so a dozen clicks on one failure send one PSP request.
    """
    seen_attempt = refund.psp_attempt if expected_attempt is None else expected_attempt
    with refusals_recorded(model=Refund, action="retry", actor=actor, case=refund):
        with transaction.atomic():
            payment = payment_lock(refund.payment_id)
            return RETRY.run(pk=refund.pk, actor=actor, reason=(reason or "").strip(), expected_state=expected_state,
                             params={"payment": payment, "attempt": seen_attempt})


def refund_transition(*, case_id: int, name: str, actor: Any, reason: str = "", data: dict | None = None) -> Refund:
    """The dispatcher the API, the pages and the admin call with a transition name."""
    data = data or {}
    expected_state = data.get("expected_state") or None
    refund = Refund.objects.filter(pk=case_id).first()
    if refund is None:
        raise NotFound(f"Refund {case_id} does not exist.")
    services: dict[str, Callable[..., Refund]] = {
        "approve": refund_approve, "reject": refund_reject, "cancel": refund_cancel, "retry": refund_retry,
    }
    if name in services:
        return services[name](refund=refund, actor=actor, reason=reason, expected_state=expected_state)
    # System transitions and unknown names: the shared service refuses them with the usual codes.
    return run_transition(Transition(model=Refund, name=name), pk=case_id, actor=actor, reason=reason,
                          expected_state=expected_state)


# ---------------------------------------------------------------- system (task, webhooks)

def refund_submission_start(*, refund_id: int) -> RefundRequest | None:
    """Prepare one PSP call: ``approved`` → ``processing`` (``submit``), or the ``processing`` refund's
    current generation again (a retry after a timeout, or a status look-up when the PSP already named
    the refund: ``psp_refund_id`` is then set and the task retrieves instead of creating). None when
    there is nothing to send — also once ``REFUND_PSP_GIVE_UP_HOURS`` have passed since it was sent:
    the refund is then flagged for the team leads instead of being sent again.

    Before an ``approved`` refund is sent, the refund invariant is checked again under the payment's
    lock: a dispute opened, lost, accepted or expired since the approval holds the refund back (it stays
    ``approved``, flagged for the team leads; the sweeper checks it again, e.g. once the dispute is won).
    """
    row = Refund.objects.filter(pk=refund_id).values("payment_id").first()
    if row is None:
        return None
    give_up = False
    with transaction.atomic():
        payment = payment_lock(row["payment_id"])
        try:
            refund = lock_case(Refund, refund_id, nowait=False)
        except NotFound:
            return None
        if refund.state == RefundState.APPROVED:
            refusal = _money_refusal(payment)
            if refusal is not None:
                _hold_submission(refund=refund, refusal=refusal)
                return None
            refund = SUBMIT.run(pk=refund_id, actor=CELERY, expected_state=RefundState.APPROVED)
        elif refund.state == RefundState.PROCESSING:
            if refund.needs_attention_at is not None:
                return None  # a team lead decides now; webhooks may still settle it
            window = timedelta(hours=settings.REFUND_PSP_GIVE_UP_HOURS)
            started = refund.psp_attempt_started_at or refund.submitted_at
            if started is not None and timezone.now() - started >= window:
                give_up = True
            else:
                Refund.objects.filter(pk=refund_id).update(last_psp_attempt_at=timezone.now())
        else:
            return None
    if refund.state == RefundState.PROCESSING and give_up:
        from .psp import refund_flag_needs_attention

        named = f" (PSP refund {refund.psp_refund_id})" if refund.psp_refund_id else " and no PSP refund id"
        refund_flag_needs_attention(
            refund_id=refund_id, actor=CELERY,
            reason=(f"No final answer from the PSP {settings.REFUND_PSP_GIVE_UP_HOURS} h after it was sent{named}: "
                    "retrying stopped. Check the refund at the PSP."),
        )
        return None
    return RefundRequest(
        refund_id=refund.pk,
        reference=refund.reference or "",
        idempotency_key=refund.psp_idempotency_key,
        psp=payment.psp,
        payment_reference=payment.psp_reference,
        amount_minor=refund.amount_minor,
        currency=refund.currency,
        reason=refund.reason,
        attempt=refund.psp_attempt,
        psp_refund_id=refund.psp_refund_id,
    )


def _hold_submission(*, refund: Refund, refusal: DomainError) -> None:
    """An approved refund that no longer fits is not sent: flag it for the team leads (once) and journal why."""
    if refund.needs_attention_at is not None and refund.attention_reason == refusal.message[:300]:
        return
    now = timezone.now()
    Refund.objects.filter(pk=refund.pk).update(needs_attention_at=now, attention_reason=refusal.message[:300])
    journal_record(case_type=Refund.CASE_TYPE, case_id=refund.pk, case_reference=refund.reference or "",
                   transition="submission_held", source=refund.state, target=refund.state, actor=CELERY,
                   reason=refusal.message, context=_context(refund, code=refusal.code))
    alert_claim_and_notify(
        case_type=Refund.CASE_TYPE, case_id=refund.pk, case_reference=refund.reference or "", kind="submission_held",
        due_at=refund.approved_at or now, offset_days=0, recipients=team_leads(),
        title=f"{refund.reference}: approved but not sent to the PSP", body=refusal.message,
        url=reverse("refunds:detail", args=[refund.pk]),
    )
    logger.warning("refund_submission_held refund_id=%s code=%s", refund.pk, refusal.code)


def refund_record_psp_result(*, refund_id: int, result: RefundResult, attempt: int | None = None,
                             actor: Any = CELERY) -> Refund | None:
    """Apply the PSP's answer: ``mark_succeeded`` / ``mark_failed``, or keep ``processing`` when pending.

    Idempotent: an answer for a refund no longer processing, or for an older submission generation
    (``attempt``), changes nothing. Webhooks pass ``attempt=None`` and their own actor.
    """
    with transaction.atomic():
        try:
            refund = lock_case(Refund, refund_id, nowait=False)
        except NotFound:
            return None
        if refund.state != RefundState.PROCESSING or (attempt is not None and refund.psp_attempt != attempt):
            logger.info("refund_psp_result_ignored refund_id=%s state=%s attempt=%s current_attempt=%s",
                        refund_id, refund.state, attempt, refund.psp_attempt)
            return refund
        if result.status == RefundStatus.SUCCEEDED:
            return MARK_SUCCEEDED.run(pk=refund_id, actor=actor, params={"result": result})
        if result.status == RefundStatus.FAILED:
            return MARK_FAILED.run(pk=refund_id, actor=actor, reason=result.failure_message or result.failure_code,
                                   params={"result": result})
        if result.psp_refund_id and refund.psp_refund_id != result.psp_refund_id:
            Refund.objects.filter(pk=refund_id).update(psp_refund_id=result.psp_refund_id)
            refund.refresh_from_db()
        return refund
