"""Demo payment extensions: ~40 promises to pay in every state, on the demo ledger.

``seed(rng=random.Random(seed))`` runs after the ledger, disputes and refunds (``manage.py seed_demo``).
It is deterministic for a given day (choices come from ``rng`` over invoices in id order, dates
from today) and idempotent (it does nothing once any extension exists; everything is written in
one transaction, so a failed run leaves nothing).

* What happens today goes through the services, exactly as on the pages: requests (some from
  customers who broke a promise, so they are flagged), approvals within each approver's limit
  (the invoice's due date moves, dunning pauses), rejections, cancellations, and two promises kept
  early (a payment arrives, the outcome check fulfils them).
* What happened in the past months — promises kept and promises broken — cannot be replayed through
  services that read the clock, so those rows are written directly with their historical dates,
  each with its full journal chain (``create`` → ``approve`` → ``fulfil`` / ``mark_broken``) in the
  same transaction; each journal row's context carries ``occurred_at``, the row itself is stamped
  when the demo was seeded. Their invoices are left as the outcome leaves them: due at the
  promised date, dunning resumed, unpaid ones overdue.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from backoffice.actors import CELERY
from backoffice.cases.services import case_assign_reference, case_claim
from backoffice.journal.services import journal_record

from .models import Customer, ExtensionState, Invoice, Payment, PaymentExtension, promise_deadline, utc_date
from .services import (
    extension_approve,
    extension_cancel,
    extension_days,
    extension_decide_outcome,
    extension_reject,
    extension_request,
)

logger = logging.getLogger(__name__)

DEMO_USERS = ("specialist", "specialist2", "lead", "lead2")
HISTORY_BROKEN = 6
HISTORY_FULFILLED = 6
REQUESTED = 12
APPROVED = 8
KEPT_TODAY = 2
REJECTED = 3
CANCELLED = 3

REQUEST_REASONS = [
    "Customer's accounts-payable run is on the 25th; they asked by email to pay then.",
    "Q4 GPU budget is waiting for the CFO's sign-off.",
    "International bank transfer takes 5-7 business days; customer asked for time.",
    "Customer questions one usage line (egress); pays in full once we confirm the metering.",
    "Card on file expired; customer is moving to SEPA direct debit.",
    "Customer is migrating ERP systems and invoice approvals are delayed two weeks.",
    "Customer's funding round closes this month; finance asked for a short extension.",
    "Purchase order number was missing on the invoice; customer needs it re-approved.",
    "Seasonal cash-flow gap; customer offered to pay in full by the new date.",
    "Finance contact is on leave; deputy confirmed payment by the new date.",
]
APPROVE_REASONS = [
    "Long-standing customer with a clean payment history.",
    "Confirmed by phone with the customer's finance lead.",
    "Small amount, first request this year.",
    "Customer sent the PO; payment scheduled.",
]
REJECT_REASONS = [
    "Third request this quarter; hand over to collections.",
    "Customer stopped answering our emails; no commitment to a date.",
    "Amount too large to wait that long; offer a payment plan instead.",
]
CANCEL_REASONS = [
    "Customer paid by card the same day.",
    "Duplicate of a request filed by phone.",
    "Customer withdrew the request after the PO arrived.",
]


def _users() -> dict[str, Any] | None:
    found = {u.username: u for u in get_user_model().objects.filter(username__in=DEMO_USERS)}
    return found if len(found) == len(DEMO_USERS) else None


def _approver(users: dict[str, Any], requester: Any, days: int, rng: random.Random) -> Any:
    if days <= 14:
        candidates = [u for name, u in users.items() if name != requester.username]
    else:
        candidates = [users["lead"], users["lead2"]]
    return rng.choice([u for u in candidates if u.pk != requester.pk])


def _history(
    *, invoice: Invoice, new_due_date, requester: Any, approver: Any, outcome: str, requested_at: datetime,
    approved_at: datetime, closed_at: datetime, rng: random.Random, extra: dict[str, Any],
) -> PaymentExtension:
    """A past promise written as rows: the extension in its final state and its journal chain."""
    deadline = promise_deadline(new_due_date)
    days = extension_days(original_due_at=invoice.due_at, new_due_date=new_due_date)
    reason = rng.choice(REQUEST_REASONS)
    approve_reason = rng.choice(APPROVE_REASONS)
    extension = PaymentExtension.objects.create(
        invoice=invoice, new_due_date=new_due_date, original_due_at=invoice.due_at, days_requested=days,
        reason=reason, requester=requester, decided_by=approver, decided_at=approved_at,
        decision_reason=approve_reason, closed_at=closed_at, due_at=deadline, state=outcome,
    )
    PaymentExtension.objects.filter(pk=extension.pk).update(created_at=requested_at)
    case_assign_reference(case=extension)
    ref = {"case_type": PaymentExtension.CASE_TYPE, "case_id": extension.pk, "case_reference": extension.reference}
    journal_record(**ref, transition="create", source="", target=ExtensionState.REQUESTED, actor=requester,
                   reason=reason, context={"invoice": invoice.number, "days_requested": days,
                                           "new_due_date": new_due_date.isoformat(),
                                           "occurred_at": requested_at.isoformat(), "demo": True})
    journal_record(**ref, transition="approve", source=ExtensionState.REQUESTED, target=ExtensionState.APPROVED,
                   actor=approver, reason=approve_reason,
                   context={"days_requested": days, "invoice_due_before": invoice.due_at.isoformat(),
                            "invoice_due_after": deadline.isoformat(), "occurred_at": approved_at.isoformat(),
                            "demo": True})
    name, reason_text = ("fulfil", "The invoice was paid in full by the end of the new due date (UTC).") \
        if outcome == ExtensionState.FULFILLED else \
        ("mark_broken", "The invoice was not paid in full by the end of the new due date (UTC); dunning resumes.")
    journal_record(**ref, transition=name, source=ExtensionState.APPROVED, target=outcome, actor=CELERY,
                   reason=reason_text, context={"deadline": deadline.isoformat(),
                                                "occurred_at": closed_at.isoformat(), "demo": True, **extra})
    # The invoice as the outcome left it: due at the promised date, dunning not paused.
    Invoice.objects.filter(pk=invoice.pk).update(due_at=deadline, dunning_paused=False)
    return extension


def _broken_history(rng: random.Random, users: dict[str, Any], now: datetime) -> list[Customer]:
    """Promises broken in the last months, by customers who still have another unpaid invoice."""
    cutoff = now - timedelta(days=25)
    overdue = list(Invoice.objects.filter(status=Invoice.Status.OVERDUE, due_at__lt=cutoff,
                                          due_at__gte=now - timedelta(days=150)).order_by("pk"))
    unpaid_by_customer: dict[int, int] = {}
    for customer_id in Invoice.objects.filter(status__in=[Invoice.Status.OPEN, Invoice.Status.OVERDUE]).values_list(
            "customer_id", flat=True):
        unpaid_by_customer[customer_id] = unpaid_by_customer.get(customer_id, 0) + 1
    candidates = [inv for inv in overdue if unpaid_by_customer.get(inv.customer_id, 0) >= 2]
    rng.shuffle(candidates)
    customers: list[Customer] = []
    for invoice in candidates:
        if len(customers) == HISTORY_BROKEN:
            break
        if any(c.pk == invoice.customer_id for c in customers):
            continue
        new_due_date = utc_date(invoice.due_at) + timedelta(days=rng.randint(5, 12))
        deadline = promise_deadline(new_due_date)
        if deadline >= now - timedelta(days=3):
            continue
        requester = rng.choice([users["specialist"], users["specialist2"]])
        days = extension_days(original_due_at=invoice.due_at, new_due_date=new_due_date)
        requested_at = invoice.due_at - timedelta(days=1, hours=rng.randint(1, 8))
        _history(invoice=invoice, new_due_date=new_due_date, requester=requester,
                 approver=_approver(users, requester, days, rng), outcome=ExtensionState.BROKEN,
                 requested_at=requested_at, approved_at=requested_at + timedelta(hours=rng.randint(2, 20)),
                 closed_at=deadline + timedelta(minutes=rng.randint(1, 15)), rng=rng,
                 extra={"invoice_status_after": Invoice.Status.OVERDUE})
        customers.append(invoice.customer)
    return customers


def _fulfilled_history(rng: random.Random, users: dict[str, Any], now: datetime) -> None:
    """Promises kept: invoices paid after their original due date but by the promised one."""
    late = [inv for inv in Invoice.objects.filter(status=Invoice.Status.PAID, paid_at__isnull=False).order_by("pk")
            if timedelta(hours=6) < inv.paid_at - inv.due_at < timedelta(days=45)]
    for invoice in rng.sample(late, min(HISTORY_FULFILLED, len(late))):
        new_due_date = max(utc_date(invoice.paid_at) + timedelta(days=rng.randint(0, 3)),
                           utc_date(invoice.due_at) + timedelta(days=1))
        requester = rng.choice([users["specialist"], users["specialist2"], users["lead"]])
        days = extension_days(original_due_at=invoice.due_at, new_due_date=new_due_date)
        requested_at = invoice.due_at - timedelta(days=1, hours=rng.randint(1, 8))
        _history(invoice=invoice, new_due_date=new_due_date, requester=requester,
                 approver=_approver(users, requester, days, rng), outcome=ExtensionState.FULFILLED,
                 requested_at=requested_at, approved_at=requested_at + timedelta(hours=rng.randint(1, 6)),
                 closed_at=min(invoice.paid_at + timedelta(minutes=15), now), rng=rng,
                 extra={"paid_in_full_at": invoice.paid_at.isoformat()})


def _request_today(rng: random.Random, invoice: Invoice, requester: Any, *, max_days: int, today) -> PaymentExtension:
    current = utc_date(invoice.due_at)
    earliest = max(current + timedelta(days=1), today)
    latest = max(earliest, current + timedelta(days=max_days))
    new_due_date = earliest + timedelta(days=rng.randint(0, (latest - earliest).days))
    return extension_request(actor=requester, invoice=invoice.pk, new_due_date=new_due_date,
                             reason=rng.choice(REQUEST_REASONS))


def _pay_in_full(invoice: Invoice, now: datetime, rng: random.Random) -> None:
    """The customer kept the promise early: a bank transfer for what was left, the invoice paid."""
    invoice = Invoice.objects.get(pk=invoice.pk)
    paid = sum(Payment.objects.filter(invoice=invoice).values_list("amount_minor", flat=True))
    captured_at = now - timedelta(minutes=rng.randint(20, 240))
    Payment.objects.create(
        invoice=invoice, customer_id=invoice.customer_id, psp=Payment.Psp.SANDBOX,
        psp_reference=f"sbx_ext_demo_{invoice.pk:08d}", method=Payment.Method.BANK_TRANSFER, method_detail="wire",
        amount_minor=invoice.amount_minor - paid, currency=invoice.currency, captured_at=captured_at,
    )
    Invoice.objects.filter(pk=invoice.pk).update(status=Invoice.Status.PAID, paid_at=captured_at)


def seed_extensions(*, rng: random.Random) -> int:
    """Create the demo extensions once; returns how many were created (0 when already there)."""
    if PaymentExtension.objects.exists():
        logger.info("demo extensions already present; nothing to do")
        return 0
    users = _users()
    if users is None or not Invoice.objects.filter(status__in=[Invoice.Status.OPEN, Invoice.Status.OVERDUE]).exists():
        logger.info("demo extensions skipped: the demo users or the demo ledger are missing")
        return 0
    now = timezone.now()
    today = utc_date(now)
    with transaction.atomic():
        broke = _broken_history(rng, users, now)
        _fulfilled_history(rng, users, now)

        used = set(PaymentExtension.objects.values_list("invoice_id", flat=True))
        # Recent unpaid invoices first: their promises stay within the approvers' limits.
        unpaid = [inv for inv in Invoice.objects.filter(
            status__in=[Invoice.Status.OPEN, Invoice.Status.OVERDUE], due_at__gte=now - timedelta(days=20),
        ).order_by("pk") if inv.pk not in used]
        rng.shuffle(unpaid)
        requesters = [users["specialist"], users["specialist2"], users["lead"]]

        def take(customer_id: int | None = None) -> Invoice | None:
            for index, invoice in enumerate(unpaid):
                if customer_id is None or invoice.customer_id == customer_id:
                    return unpaid.pop(index)
            return None

        # Customers who broke a promise ask again: their requests are flagged for a closer look.
        flagged: list[PaymentExtension] = []
        for customer in broke[:4]:
            invoice = take(customer.pk) or Invoice.objects.filter(
                customer=customer, status=Invoice.Status.OVERDUE).exclude(extensions__state__in=[
                    ExtensionState.REQUESTED, ExtensionState.APPROVED]).order_by("-due_at").first()
            if invoice is not None:
                flagged.append(_request_today(rng, invoice, rng.choice(requesters), max_days=20, today=today))

        requested = list(flagged)
        while len(requested) < REQUESTED and unpaid:
            requested.append(_request_today(rng, take(), rng.choice(requesters), max_days=rng.choice((10, 14, 30, 60)),
                                            today=today))
        for extension in requested[:4]:
            case_claim(model=PaymentExtension, pk=extension.pk, actor=extension.requester)

        def decided(count: int, decide, reasons: list[str], *, approver_for=None) -> list[PaymentExtension]:
            done = []
            for _ in range(count):
                invoice = take()
                if invoice is None:
                    break
                requester = rng.choice(requesters)
                extension = _request_today(rng, invoice, requester, max_days=rng.choice((7, 12, 30)), today=today)
                actor = approver_for(extension) if approver_for else requester
                done.append(decide(extension_id=extension.pk, actor=actor, reason=rng.choice(reasons)))
            return done

        def approver_for(extension: PaymentExtension) -> Any:
            return _approver(users, extension.requester, extension.days_requested, rng)

        approved = decided(APPROVED + KEPT_TODAY, extension_approve, APPROVE_REASONS, approver_for=approver_for)
        decided(REJECTED, extension_reject, REJECT_REASONS, approver_for=approver_for)
        decided(CANCELLED, extension_cancel, CANCEL_REASONS)
        for extension in approved[:KEPT_TODAY]:
            _pay_in_full(extension.invoice, now, rng)
            extension_decide_outcome(extension_id=extension.pk, now=now)

    created = PaymentExtension.objects.count()
    states = dict.fromkeys(ExtensionState.values, 0)
    for state in PaymentExtension.objects.values_list("state", flat=True):
        states[state] += 1
    logger.info("demo extensions seeded: %d (%s)", created, ", ".join(f"{k} {v}" for k, v in states.items()),
                extra={"extensions": created, **{f"state_{k}": v for k, v in states.items()}})
    return created


def seed(*, rng: random.Random) -> None:
    """The entry point ``manage.py seed_demo`` calls."""
    seed_extensions(rng=rng)

