"""Writes to the ledger and to payment extensions. Every write is a typed, keyword-only function
in one transaction.

Payment extensions (promise to pay)
-----------------------------------
* ``extension_request`` — a specialist or team lead files a request for an open or overdue invoice
  with something left to pay. The new due date must be after the invoice's current due date (in
  UTC days), not in the past and at most ``EXTENSION_MAX_DAYS`` after the original due date.
  The invoice row is locked while checking, and the database's conditional unique constraint
  refuses a second open extension whatever happens (``extension_already_open``, 409).
* ``extension_approve`` — who may approve is ``invoices.policy`` (never the requester, within the
  approver's limit in days; its refusals are 403 with their codes: the refusal is about who asks,
  another person may approve). Approval moves the invoice's due date to the end of the new due date
  (23:59:59.999999 UTC), pauses dunning, and turns an overdue invoice back to open.
* ``extension_reject`` (any specialist or team lead but the requester) and ``extension_cancel``
  (the requester or a team lead, while requested) leave the invoice exactly as it was.
* Every decision takes a reason (``reason_required``, 400).
* ``extension_fulfil`` / ``extension_mark_broken`` (system only) decide the outcome: kept when the
  invoice was paid in full at or before the deadline; broken once the deadline has passed without
  that. Broken resumes dunning and marks an unpaid invoice overdue; fulfilled lifts the pause.
  ``extension_check_due`` (the periodic task) decides every approved extension that is due.

Each transition is declared once below (``APPROVE`` … ``MARK_BROKEN``) and taken by
``backoffice.cases.transitions.run_transition``. Lock order: the extension row → the invoice (in an effect).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from backoffice.actors import CELERY, actor_label
from backoffice.cases.services import case_assign_reference, case_journal_created
from backoffice.cases.transitions import Transition, TransitionRun
from backoffice.denials import denial_record
from backoffice.errors import (
    BusinessRuleViolation,
    ConcurrentChange,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TransitionNotAllowed,
)
from backoffice.money import MoneyError, is_valid_currency, round_half_up
from backoffice.parsing import refuse_card_numbers
from backoffice.roles.predicates import is_worker

from .models import (
    EXTENSION_OPEN_STATES,
    Customer,
    ExtensionState,
    Invoice,
    InvoiceLine,
    PaymentExtension,
    promise_deadline,
    utc_date,
)
from .policy import decision_refusal, extension_approval_limit
from .selectors import (
    customer_broke_promise_recently,
    extensions_to_check,
    invoice_open_extension,
    invoice_paid_in_full_at,
    invoice_paid_minor,
)

logger = logging.getLogger("invoices.extensions")

INVOICE_NUMBER_FORMAT = "INV-{year}-{seq:06d}"
QUANTITY_STEP = Decimal("0.000001")  # InvoiceLine.quantity: decimal_places=6
QUANTITY_LIMIT = Decimal(10) ** 12  # max_digits=18


@dataclass(frozen=True)
class InvoiceLineInput:
    description: str
    kind: str
    quantity: Decimal
    unit_price_minor: int
    unit: str = ""


def line_amount_minor(*, quantity: Decimal, unit_price_minor: int) -> int:
    """A line's total in minor units: quantity × unit price, rounded half up (away from zero)."""
    if isinstance(quantity, float | bool) or not isinstance(quantity, Decimal | int):
        raise MoneyError("A quantity must be a Decimal or an int, never a float.")
    if isinstance(unit_price_minor, bool) or not isinstance(unit_price_minor, int):
        raise MoneyError("A unit price must be an integer number of minor units.")
    return round_half_up(Decimal(quantity) * unit_price_minor)


def invoice_next_number(*, year: int) -> str:
    """The next free number of the year's series ("INV-2026-000124" after "INV-2026-000123")."""
    prefix = INVOICE_NUMBER_FORMAT.format(year=year, seq=0)[:-6]
    last = (
        Invoice.objects.filter(number__startswith=prefix).order_by("-number").values_list("number", flat=True).first()
    )
    seq = int(last[len(prefix) :]) + 1 if last and last[len(prefix) :].isdigit() else 1
    return INVOICE_NUMBER_FORMAT.format(year=year, seq=seq)


def _line_input(line: InvoiceLineInput | Mapping[str, Any]) -> InvoiceLineInput:
    if isinstance(line, InvoiceLineInput):
        return line
    try:
        return InvoiceLineInput(**line)
    except TypeError as exc:
        raise InvalidInput(f"Invalid invoice line: {exc}.", code="invalid_invoice_line") from exc


@transaction.atomic
def invoice_create(
    *,
    customer: Customer,
    currency: str,
    lines: Iterable[InvoiceLineInput | Mapping[str, Any]],
    issued_at: datetime,
    due_at: datetime,
    number: str | None = None,
) -> Invoice:
    """Issue an invoice with its lines; its ``amount_minor`` is the sum of the line totals.

    Each line's total is ``quantity × unit_price_minor`` rounded half up. Credit lines carry a
    negative unit price; the invoice total may not go below zero. The invoice starts ``open``.
    """
    if not is_valid_currency(currency):
        raise MoneyError(f"{currency!r} is not a known currency.", code="invalid_currency")
    if due_at < issued_at:
        raise InvalidInput("The due date cannot be before the issue date.", code="invalid_due_date")
    inputs = [_line_input(line) for line in lines]
    if not inputs:
        raise InvalidInput("An invoice needs at least one line.", code="invalid_invoice_line")

    line_rows = []
    for line in inputs:
        if line.kind not in InvoiceLine.Kind.values:
            raise InvalidInput(f"Unknown line kind {line.kind!r}.", code="invalid_invoice_line")
        if isinstance(line.quantity, float | bool) or not isinstance(line.quantity, Decimal | int):
            raise MoneyError("A quantity must be a Decimal or an int, never a float.")
        quantity = Decimal(line.quantity)
        if not quantity.is_finite() or quantity <= 0:
            raise InvalidInput("A line's quantity must be greater than zero.", code="invalid_invoice_line")
        if quantity >= QUANTITY_LIMIT or quantity != quantity.quantize(QUANTITY_STEP):
            raise InvalidInput(
                "A quantity has at most 6 decimal places and 12 digits before the point.",
                code="invalid_invoice_line",
            )
        amount = line_amount_minor(quantity=quantity, unit_price_minor=line.unit_price_minor)
        if (line.kind == InvoiceLine.Kind.CREDIT) != (amount < 0) and amount != 0:
            raise InvalidInput(
                "Credit lines take a negative unit price; other lines a positive one.",
                code="invalid_invoice_line",
            )
        line_rows.append(
            InvoiceLine(
                description=line.description,
                kind=line.kind,
                quantity=quantity,
                unit=line.unit,
                unit_price_minor=line.unit_price_minor,
                amount_minor=amount,
            )
        )
    total = sum(row.amount_minor for row in line_rows)
    if total < 0:
        raise InvalidInput("Credits cannot exceed the invoice's charges.", code="invoice_total_negative")

    invoice = Invoice.objects.create(
        customer=customer,
        number=number or invoice_next_number(year=issued_at.year),
        status=Invoice.Status.OPEN,
        currency=currency,
        amount_minor=total,
        issued_at=issued_at,
        due_at=due_at,
    )
    for row in line_rows:
        row.invoice = invoice
    InvoiceLine.objects.bulk_create(line_rows)
    return invoice


# ---- payment extensions -----------------------------------------------------------------------

EXTENSION_MAX_DAYS = 365
EXTENSION_ELIGIBLE_STATUSES = (Invoice.Status.OPEN, Invoice.Status.OVERDUE)
REASON_MAX_CHARS = 2000
FULFIL_REASON = "The invoice was paid in full by the end of the new due date (UTC)."
BROKEN_REASON = "The invoice was not paid in full by the end of the new due date (UTC); dunning resumes."


def _lock_invoice(invoice_id: int) -> Invoice:
    """``SELECT … FOR UPDATE`` the invoice (after the extension row, in the fixed lock order)."""
    invoice = Invoice.objects.select_for_update().filter(pk=invoice_id).first()
    if invoice is None:
        raise InvalidInput(f"Invoice {invoice_id} does not exist.", code="invoice_not_found")
    return invoice


def _clean_reason(reason: str | None, *, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(f"Give a reason for {what}.", code="reason_required")
    if len(reason) > REASON_MAX_CHARS:
        raise InvalidInput(f"A reason is limited to {REASON_MAX_CHARS:,} characters.", code="reason_too_long")
    return refuse_card_numbers(reason, field="reason")


def extension_days(*, original_due_at: datetime, new_due_date: date) -> int:
    """Days the promise adds: the new due date minus the original due date, both as UTC dates."""
    return (new_due_date - utc_date(original_due_at)).days


def extension_request(*, actor: Any, invoice: Invoice | int, new_due_date: date, reason: str) -> PaymentExtension:
    """File a promise to pay ``invoice`` by the end of ``new_due_date`` (UTC)."""
    invoice_id = invoice.pk if isinstance(invoice, Invoice) else invoice
    try:
        with transaction.atomic():
            if not is_worker(actor):
                raise PermissionDenied("Only specialists and team leads request extensions.")
            reason = _clean_reason(reason, what="the request")
            if isinstance(new_due_date, datetime) or not isinstance(new_due_date, date):
                raise InvalidInput("The new due date must be a date (YYYY-MM-DD).", code="invalid_date")
            locked = _lock_invoice(invoice_id)
            if locked.status not in EXTENSION_ELIGIBLE_STATUSES:
                raise BusinessRuleViolation(
                    f"Invoice {locked.number} is {locked.status}: only open or overdue invoices get extensions.",
                    code="invoice_not_eligible",
                )
            if invoice_paid_minor(invoice=locked) >= locked.amount_minor:
                raise BusinessRuleViolation(f"Invoice {locked.number} has nothing left to pay.",
                                            code="invoice_not_eligible")
            existing = invoice_open_extension(invoice_id=locked.pk)
            if existing is not None:
                raise _already_open(locked, existing)
            current_due = utc_date(locked.due_at)
            if new_due_date <= current_due:
                raise InvalidInput(
                    f"The new due date must be after the invoice's current due date, {current_due:%Y-%m-%d}.",
                    code="new_due_date_not_after_current",
                )
            today = utc_date(timezone.now())
            if new_due_date < today:
                raise InvalidInput(f"The new due date cannot be in the past (today is {today:%Y-%m-%d} UTC).",
                                   code="new_due_date_in_past")
            days = extension_days(original_due_at=locked.due_at, new_due_date=new_due_date)
            if days > EXTENSION_MAX_DAYS:
                raise InvalidInput(f"An extension is limited to {EXTENSION_MAX_DAYS} days; this asks for {days}.",
                                   code="extension_too_long")
            flagged = customer_broke_promise_recently(customer_id=locked.customer_id)
            try:
                with transaction.atomic():
                    extension = PaymentExtension.objects.create(
                        invoice=locked,
                        new_due_date=new_due_date,
                        original_due_at=locked.due_at,
                        days_requested=days,
                        reason=reason,
                        requester=actor,
                        customer_broke_promise_recently=flagged,
                        due_at=promise_deadline(new_due_date),
                    )
            except IntegrityError as exc:
                # A concurrent request for the same invoice won the conditional unique constraint.
                existing = PaymentExtension.objects.filter(
                    invoice_id=locked.pk, state__in=EXTENSION_OPEN_STATES).first()
                if existing is None:
                    raise
                raise _already_open(locked, existing) from exc
            case_assign_reference(case=extension)
            case_journal_created(case=extension, actor=actor, reason=reason, context={
                "invoice": locked.number,
                "invoice_id": locked.pk,
                "original_due_at": locked.due_at.isoformat(),
                "new_due_date": new_due_date.isoformat(),
                "days_requested": days,
                "customer_broke_promise_recently": flagged,
            })
    except (PermissionDenied, Conflict) as err:
        denial_record(err, case_type=PaymentExtension.CASE_TYPE, action="request", actor=actor,
                      context={"invoice_id": invoice_id})
        raise
    logger.info(
        "extension_requested extension_id=%s invoice_id=%s days=%s flagged=%s actor=%s",
        extension.pk, invoice_id, days, flagged, actor_label(actor),
    )
    return extension


def _already_open(invoice: Invoice, existing: PaymentExtension) -> BusinessRuleViolation:
    return BusinessRuleViolation(
        f"Invoice {invoice.number} already has an open extension, {existing.reference or existing.pk} "
        f"({existing.state}). Decide or cancel it first.",
        code="extension_already_open",
        extra={"extension": existing.pk},
    )


# ---- the transitions, declared once ----------------------------------------------------------


def _by_actor_now(run: TransitionRun) -> dict[str, Any]:
    """The decision's arguments: who decided, why, when."""
    return {"by": run.actor, "reason": run.reason, "at": timezone.now()}


def _at_checked_time(run: TransitionRun) -> dict[str, Any]:
    return {"at": run.params["now"]}


def _reason_given(what: str) -> Callable[[TransitionRun], None]:
    def guard(run: TransitionRun) -> None:
        _clean_reason(run.reason, what=what)

    return guard


def _decision_allowed(run: TransitionRun) -> None:
    """``invoices.policy``: never the requester; within the approver's limit in days (approve)."""
    refusal = decision_refusal(extension=run.case, user=run.actor, name=run.name)
    if refusal is not None:
        raise refusal


def _note_approval_limit(run: TransitionRun) -> None:
    run.context["limit_days"] = extension_approval_limit(user=run.actor)


def _move_invoice_due_date(run: TransitionRun) -> None:
    """Under the extension's lock: the invoice is due at the end of the new due date, dunning paused."""
    extension = run.case
    invoice = _lock_invoice(extension.invoice_id)
    if invoice.status not in EXTENSION_ELIGIBLE_STATUSES:
        raise BusinessRuleViolation(
            f"Invoice {invoice.number} is {invoice.status} now; there is nothing to extend.",
            code="invoice_not_eligible",
        )
    deadline = extension.deadline
    if invoice.due_at >= deadline:
        raise BusinessRuleViolation(
            f"Invoice {invoice.number} is already due {invoice.due_at:%Y-%m-%d %H:%M} UTC, not before "
            "the new due date.", code="new_due_date_not_after_current",
        )
    run.context.update(invoice=invoice.number, invoice_due_before=invoice.due_at.isoformat(),
                       invoice_due_after=deadline.isoformat(), invoice_status_before=invoice.status,
                       days_requested=extension.days_requested)
    Invoice.objects.filter(pk=invoice.pk).update(due_at=deadline, dunning_paused=True, status=Invoice.Status.OPEN)


def _promise_kept(run: TransitionRun) -> None:
    extension = run.case
    paid_at = invoice_paid_in_full_at(invoice=Invoice.objects.get(pk=extension.invoice_id))
    if paid_at is None or paid_at > extension.deadline:
        raise BusinessRuleViolation(
            f"{extension.reference}: the invoice was not paid in full by {extension.deadline:%Y-%m-%d %H:%M:%S} "
            "UTC.", code="promise_not_kept",
        )
    run.context.update(paid_in_full_at=paid_at.isoformat(), deadline=extension.deadline.isoformat())


def _lift_dunning_pause(run: TransitionRun) -> None:
    invoice = _lock_invoice(run.case.invoice_id)
    Invoice.objects.filter(pk=invoice.pk).update(dunning_paused=False)


def _promise_broken(run: TransitionRun) -> None:
    extension, now = run.case, run.params["now"]
    if now <= extension.deadline:
        raise BusinessRuleViolation(
            f"{extension.reference} runs until {extension.deadline:%Y-%m-%d %H:%M:%S} UTC; it is not broken yet.",
            code="promise_not_due",
        )
    paid_at = invoice_paid_in_full_at(invoice=Invoice.objects.get(pk=extension.invoice_id))
    if paid_at is not None and paid_at <= extension.deadline:
        raise BusinessRuleViolation(f"{extension.reference}: the invoice was paid in full in time.",
                                    code="promise_kept")
    run.context.update(deadline=extension.deadline.isoformat(), checked_at=now.isoformat(),
                       paid_in_full_at=paid_at.isoformat() if paid_at else None)


def _resume_dunning(run: TransitionRun) -> None:
    """Dunning resumes; an open invoice that is still unpaid is overdue again."""
    invoice = _lock_invoice(run.case.invoice_id)
    changes: dict[str, Any] = {"dunning_paused": False}
    unpaid = invoice_paid_minor(invoice=invoice) < invoice.amount_minor and invoice.paid_at is None
    if invoice.status == Invoice.Status.OPEN and unpaid:
        changes["status"] = Invoice.Status.OVERDUE
    run.context.update(invoice=invoice.number, invoice_status_before=invoice.status,
                       invoice_status_after=changes.get("status", invoice.status))
    Invoice.objects.filter(pk=invoice.pk).update(**changes)


APPROVE = Transition(
    model=PaymentExtension, name="approve",
    guards=(_decision_allowed, _note_approval_limit, _reason_given("the approval")),
    arguments=_by_actor_now, effects=(_move_invoice_due_date,),
)
REJECT = Transition(model=PaymentExtension, name="reject", guards=(_decision_allowed, _reason_given("the rejection")),
                    arguments=_by_actor_now)
CANCEL = Transition(model=PaymentExtension, name="cancel", guards=(_reason_given("the cancellation"),),
                    arguments=_by_actor_now)
FULFIL = Transition(model=PaymentExtension, name="fulfil", guards=(_promise_kept,), arguments=_at_checked_time,
                    effects=(_lift_dunning_pause,))
MARK_BROKEN = Transition(model=PaymentExtension, name="mark_broken", guards=(_promise_broken,),
                         arguments=_at_checked_time, effects=(_resume_dunning,))


def extension_approve(
    *, extension_id: int, actor: Any, reason: str, expected_state: str | None = None
) -> PaymentExtension:
    """Approve within the actor's limit in days; the invoice's due date moves and dunning pauses."""
    return APPROVE.run(pk=extension_id, actor=actor, reason=(reason or "").strip(), expected_state=expected_state)


def extension_reject(
    *, extension_id: int, actor: Any, reason: str, expected_state: str | None = None
) -> PaymentExtension:
    """Refuse the request (not the requester's own); the invoice stays as it was."""
    return REJECT.run(pk=extension_id, actor=actor, reason=(reason or "").strip(), expected_state=expected_state)


def extension_cancel(
    *, extension_id: int, actor: Any, reason: str, expected_state: str | None = None
) -> PaymentExtension:
    """Withdraw a request that was not decided yet (the requester or a team lead); the invoice stays as it was."""
    return CANCEL.run(pk=extension_id, actor=actor, reason=(reason or "").strip(), expected_state=expected_state)


def extension_fulfil(
    *, extension_id: int, actor: Any = CELERY, now: datetime | None = None, expected_state: str | None = None
) -> PaymentExtension:
    """The promise was kept: the invoice was paid in full by the end of the new due date (UTC)."""
    return FULFIL.run(pk=extension_id, actor=actor, reason=FULFIL_REASON, expected_state=expected_state,
                      params={"now": now or timezone.now()})


def extension_mark_broken(
    *, extension_id: int, actor: Any = CELERY, now: datetime | None = None, expected_state: str | None = None
) -> PaymentExtension:
    """The promise was broken: the deadline passed without the invoice being paid in full.
    Dunning resumes and an unpaid invoice is overdue again."""
    return MARK_BROKEN.run(pk=extension_id, actor=actor, reason=BROKEN_REASON, expected_state=expected_state,
                           params={"now": now or timezone.now()})


def extension_decide_outcome(*, extension_id: int, now: datetime | None = None) -> str:
    """Fulfil or break one approved extension if its outcome is known at ``now``.

    Returns ``fulfilled``, ``broken``, ``pending`` (not paid, deadline not passed) or ``skipped``
    (gone, no longer approved, or changed concurrently). Safe to run any number of times.
    """
    now = now or timezone.now()
    extension = PaymentExtension.objects.select_related("invoice").filter(pk=extension_id).first()
    if extension is None or extension.state != ExtensionState.APPROVED:
        return "skipped"
    paid_at = invoice_paid_in_full_at(invoice=extension.invoice)
    try:
        if paid_at is not None and paid_at <= extension.deadline:
            extension_fulfil(extension_id=extension_id, now=now, expected_state=ExtensionState.APPROVED)
            return "fulfilled"
        if now > extension.deadline:
            extension_mark_broken(extension_id=extension_id, now=now, expected_state=ExtensionState.APPROVED)
            return "broken"
    except (ConcurrentChange, TransitionNotAllowed, BusinessRuleViolation, NotFound) as err:
        logger.info("extension_outcome_skipped extension_id=%s code=%s", extension_id, err.code)
        return "skipped"
    return "pending"


def extension_check_due(*, now: datetime | None = None, batch_size: int = 500,
                        budget_seconds: float | None = None) -> dict[str, int]:
    """Decide every approved extension whose deadline has passed (or whose invoice the ledger shows
    paid): ``fulfil`` when paid in full by the deadline, ``mark_broken`` when not. Idempotent.
    Reads ids in keyset batches of ``batch_size``; stops early once ``budget_seconds`` are spent,
    leaving the rest to the next run."""
    now = now or timezone.now()
    started = time.monotonic()
    counts = {"checked": 0, "fulfilled": 0, "broken": 0, "pending": 0, "skipped": 0}
    after = 0
    more = False
    while not more:
        ids = extensions_to_check(now=now, after_id=after, limit=batch_size)
        for extension_id in ids:
            if budget_seconds is not None and time.monotonic() - started >= budget_seconds:
                more = True
                break
            after = extension_id
            counts["checked"] += 1
            counts[extension_decide_outcome(extension_id=extension_id, now=now)] += 1
        if len(ids) < batch_size:
            break
    logger.info(
        "extension_check_due checked=%(checked)s fulfilled=%(fulfilled)s broken=%(broken)s pending=%(pending)s "
        "skipped=%(skipped)s more=%(more)s", {**counts, "more": more},
    )
    return counts
