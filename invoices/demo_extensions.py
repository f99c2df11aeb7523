"""Demo payment extensions: ~40 promises to pay in every state, on the demo ledger, through the services.

``seed(rng=random.Random(seed))`` runs after the ledger, disputes and refunds (``manage.py seed_demo``).
Each promise is planned first (its invoice, new due date, and the moment of every step), then all
steps are played in time order through ``extension_request``, ``extension_approve``,
``extension_reject``, ``extension_cancel``, ``case_claim`` and the outcome check the periodic task
runs (``extension_decide_outcome``), on the demo clock (``backoffice.demo``):

* months ago: promises kept (the customer paid before the new due date; the payment arrives in
  the ledger at that moment) and promises broken (the check found the invoice unpaid after the
  deadline: dunning resumed, the invoice is overdue again);
* in the last two days: requests waiting for a decision (customers who broke a promise ask again,
  and are flagged), approvals within each approver's limit, rejections, cancellations, and two
  promises kept early.

Deterministic for a given day and ledger; idempotent: nothing happens once any extension exists.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from django.utils import timezone

from backoffice.cases.services import case_claim
from backoffice.demo import People, demo_play, demo_start

from .demo import ledger_payment_arrives
from .models import ExtensionState, Invoice, PaymentExtension, promise_deadline, utc_date
from .selectors import invoice_paid_minor
from .services import (
    extension_approve,
    extension_cancel,
    extension_decide_outcome,
    extension_reject,
    extension_request,
)

logger = logging.getLogger(__name__)

HISTORY_BROKEN = 6
HISTORY_FULFILLED = 6
REQUESTED = 12
CLAIMED = 4
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



@dataclass
class _Plan:
    index: int
    kind: str
    invoice: Invoice
    requester: Any
    new_due_date: date
    steps: list[tuple[datetime, str]] = field(default_factory=list)
    decider: Any = None
    extension_id: int | None = None


def _hours(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(hours=rng.uniform(low, high))


def _approver(people: People, requester: Any, days: int, rng: random.Random) -> Any:
    """Someone other than the requester whose limit covers ``days`` (specialists up to 14, leads 90)."""
    candidates = people.workers if days <= 14 else people.leads
    return rng.choice([u for u in candidates if u.pk != requester.pk])


def _history(rng: random.Random, people: People, now: datetime, unpaid: list[Invoice]) -> list[_Plan]:
    """Promises of the last months: broken ones by customers who still owe another invoice, kept ones."""
    open_count: dict[int, int] = {}
    for invoice in unpaid:
        open_count[invoice.customer_id] = open_count.get(invoice.customer_id, 0) + 1
    past = [inv for inv in unpaid if inv.status == Invoice.Status.OVERDUE
            and now - timedelta(days=85) <= inv.due_at < now - timedelta(days=25)]
    rng.shuffle(past)
    plans: list[_Plan] = []
    customers: set[int] = set()
    for invoice in past:
        broken = sum(p.kind == "broken" for p in plans) < HISTORY_BROKEN
        if not broken and len(plans) == HISTORY_BROKEN + HISTORY_FULFILLED:
            break
        if invoice.customer_id in customers or (broken and open_count[invoice.customer_id] < 2):
            continue
        new_due_date = utc_date(invoice.due_at) + timedelta(days=rng.randint(5, 12))
        deadline = promise_deadline(new_due_date)
        if deadline >= now - timedelta(days=3):
            continue
        requester = rng.choice(people.workers[:3])
        requested = invoice.due_at - timedelta(days=1) - _hours(rng, 1, 8)
        approved = requested + _hours(rng, 2, 20)
        plan = _Plan(index=len(plans), kind="broken" if broken else "fulfilled", invoice=invoice,
                     requester=requester, new_due_date=new_due_date,
                     decider=_approver(people, requester, (new_due_date - utc_date(invoice.due_at)).days, rng))
        plan.steps = [(requested, "request"), (approved, "approve")]
        if broken:
            plan.steps.append((deadline + timedelta(minutes=rng.randint(1, 15)), "check"))
        else:
            paid = approved + (deadline - approved) * rng.uniform(0.3, 0.95)
            plan.steps += [(paid, "pay"), (paid + timedelta(minutes=rng.randint(5, 60)), "check")]
        plans.append(plan)
        customers.add(invoice.customer_id)
    return plans


def _today(rng: random.Random, people: People, now: datetime, unpaid: list[Invoice], history: list[_Plan]) -> list[
        _Plan]:
    """Promises of the last two days: requests, decisions, and two kept at once."""
    used = {plan.invoice.pk for plan in history}
    broke = [plan.invoice.customer_id for plan in history if plan.kind == "broken"]
    recent = [inv for inv in unpaid if inv.pk not in used and inv.due_at >= now - timedelta(days=20)]
    rng.shuffle(recent)
    again = [inv for inv in unpaid if inv.pk not in used and inv.customer_id in broke]
    today = utc_date(now)
    requesters = people.workers[:3]
    plans: list[_Plan] = []

    def take(pool: list[Invoice]) -> Invoice | None:
        for invoice in pool:
            if invoice.pk not in used:
                used.add(invoice.pk)
                return invoice
        return None

    kinds = (["again"] * 4 + ["requested"] * (REQUESTED - 4) + ["approved"] * APPROVED + ["kept"] * KEPT_TODAY
             + ["rejected"] * REJECTED + ["cancelled"] * CANCELLED)
    for kind in kinds:
        invoice = take(again if kind == "again" else []) or take(recent)
        if invoice is None:
            break
        max_days = rng.choice((10, 14, 30, 60) if kind in ("again", "requested") else (7, 12, 30))
        current = utc_date(invoice.due_at)
        earliest = max(current + timedelta(days=1), today)
        latest = max(earliest, current + timedelta(days=max_days))
        new_due_date = earliest + timedelta(days=rng.randint(0, (latest - earliest).days))
        requester = rng.choice(requesters)
        plan = _Plan(index=len(history) + len(plans), kind="requested" if kind == "again" else kind,
                     invoice=invoice, requester=requester, new_due_date=new_due_date)
        if kind in ("again", "requested"):
            requested = now - _hours(rng, 2, 40)
            plan.steps = [(requested, "request")]
            if len(plans) < CLAIMED:
                plan.steps.append((requested + _hours(rng, 0.2, 1.5), "claim"))
        else:
            requested = now - _hours(rng, 20, 48)
            decided = requested + _hours(rng, 1, 12)
            action = {"approved": "approve", "kept": "approve", "rejected": "reject", "cancelled": "cancel"}[kind]
            plan.steps = [(requested, "request"), (decided, action)]
            days = (new_due_date - current).days
            plan.decider = requester if kind == "cancelled" else _approver(people, requester, days, rng)
            if kind == "kept":
                paid = decided + _hours(rng, 1, 6)
                plan.steps += [(paid, "pay"), (paid + timedelta(minutes=10), "check")]
        plans.append(plan)
    return plans


def _play(rng: random.Random, plan: _Plan, action: str, at: datetime) -> None:
    if action == "request":
        plan.extension_id = extension_request(actor=plan.requester, invoice=plan.invoice.pk,
                                              new_due_date=plan.new_due_date,
                                              reason=rng.choice(REQUEST_REASONS)).pk
    elif action == "claim":
        case_claim(model=PaymentExtension, pk=plan.extension_id, actor=plan.requester)
    elif action == "approve":
        extension_approve(extension_id=plan.extension_id, actor=plan.decider, reason=rng.choice(APPROVE_REASONS))
    elif action == "reject":
        extension_reject(extension_id=plan.extension_id, actor=plan.decider, reason=rng.choice(REJECT_REASONS))
    elif action == "cancel":
        extension_cancel(extension_id=plan.extension_id, actor=plan.decider, reason=rng.choice(CANCEL_REASONS))
    elif action == "pay":
        invoice = Invoice.objects.get(pk=plan.invoice.pk)
        ledger_payment_arrives(invoice=invoice, amount_minor=invoice.amount_minor - invoice_paid_minor(invoice=invoice),
                               captured_at=at, reference=f"sbx_ext_demo_{invoice.pk:08d}")
    elif action == "check":  # what the periodic outcome check (invoices.check_extensions) does at that moment
        extension_decide_outcome(extension_id=plan.extension_id)


def seed_extensions(*, rng: random.Random) -> int:
    """Create the demo extensions once; returns how many were created (0 when already there)."""
    people = demo_start(what="extensions", already_seeded=PaymentExtension.objects.exists())
    unpaid = list(Invoice.objects.filter(status__in=[Invoice.Status.OPEN, Invoice.Status.OVERDUE]).order_by("pk"))
    if people is None or not unpaid:
        return 0
    now = timezone.now()
    history = _history(rng, people, now, unpaid)
    plans = history + _today(rng, people, now, unpaid, history)
    demo_play([(at, plan.index, action, partial(_play, rng, plan, action, at))
               for plan in plans for at, action in plan.steps], what="extension")
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
