"""Demo refunds: ~150 requested over the last 90 days, in every state, through the services.

``seed(rng=random.Random(seed))`` runs after the ledger and the disputes (payments under a dispute
are left alone). Each refund is planned first (its payment, amount and the moment of every step:
requested, approved once or twice, rejected, cancelled), then all steps are played in time order
through ``refund_request``, ``refund_approve``, ``refund_reject`` and ``refund_cancel`` on the demo
clock (``backoffice.demo``); an approval sends the refund to the sandbox PSP at that same moment, so
it succeeds or fails when it would have. Decided refunds are spread over the last 90 days; those
still waiting for a decision were requested in the last three days. Deterministic for a given day
and ledger; idempotent: nothing happens once demo refunds exist (each carries the idempotency key
``demo-refund-NNN`` of its requester). The amounts pick the sandbox's documented outcomes: ``…13`` /
``…14`` fail, ``…66`` stays ``processing`` (the PSP answered "pending"), ``…57`` times out once then
succeeds.

Plan (150): 30 pending approval (a few above a lead's limit), 12 pending a second approval (above
the dual threshold, approved once), 8 approved and not yet submitted, 8 processing, 50 succeeded
(some with two approvals), 12 failed, 15 rejected, 15 cancelled.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db.models import Exists, OuterRef
from django.utils import timezone

from backoffice.demo import People, demo_play, demo_start
from backoffice.roles.defaults import DUAL_APPROVAL_THRESHOLD, TEAM_LEAD_REFUND_LIMIT
from invoices.models import Payment

from .models import Refund, RefundReason
from .selectors import dispute_model
from .services import refund_approve, refund_cancel, refund_reject, refund_request

logger = logging.getLogger(__name__)

KEY_PREFIX = "demo-refund-"
PLAN = [
    # (final state, how many, dual approval, amount ending forced or None)
    ("pending_approval", 26, False, None),
    ("pending_approval_above_limit", 4, False, None),
    ("pending_second_approval", 12, True, None),
    ("approved", 8, False, None),
    ("processing", 8, False, 66),
    ("succeeded", 40, False, None),
    ("succeeded_dual", 8, True, None),
    ("succeeded_after_timeout", 2, False, 57),
    ("failed", 12, False, None),
    ("rejected", 15, False, None),
    ("cancelled", 15, False, None),
]
SAFE_ENDINGS_EXCLUDED = {13, 14, 57, 66}

APPROVE_REASONS = ["Checked against the invoice: the customer was overcharged.", "Outage credit per SLA.",
                   "Duplicate capture confirmed in the PSP dashboard.", "Goodwill agreed with the account owner."]
REJECT_REASONS = ["Usage logs show the service was used as billed.", "Outside the refund policy window.",
                  "Already credited on the next invoice."]
NOTES = ["Customer wrote in about a double charge.", "GPU cluster outage on the 12th (4 h).",
         "Wrong plan billed after downgrade.", "Goodwill for a long-standing customer.", ""]


def _candidates() -> list[Payment]:
    qs = Payment.objects.filter(currency__in=list(TEAM_LEAD_REFUND_LIMIT))
    Dispute = dispute_model()
    if Dispute is not None:
        qs = qs.exclude(Exists(Dispute.objects.filter(payment_id=OuterRef("pk"))))
    # Payments that already carry refunds (earlier runs, other tools) are left alone.
    qs = qs.exclude(Exists(Refund.objects.filter(payment_id=OuterRef("pk"))))
    return list(qs.order_by("id"))


def _with_ending(amount: int, ending: int | None, rng: random.Random) -> int:
    if ending is None:
        ending = rng.choice([e for e in range(100) if e not in SAFE_ENDINGS_EXCLUDED])
    return max(amount // 100, 1) * 100 + ending


def _amount(rng: random.Random, payment: Payment, kind: str, ending: int | None) -> int | None:
    """A refund amount for this slot that fits the payment, or None when the payment does not suit it."""
    captured, currency = payment.amount_minor, payment.currency
    limit, threshold = TEAM_LEAD_REFUND_LIMIT[currency], DUAL_APPROVAL_THRESHOLD[currency]
    if kind == "pending_approval_above_limit":
        low, high = limit + 100, captured
    elif kind in ("pending_second_approval", "succeeded_dual"):
        low, high = threshold + 100, min(captured, limit) - 100
    else:
        low, high = 200, min(captured, threshold) - 200
    if high <= low:
        return None
    share = rng.choice([0.1, 0.2, 0.25, 0.5, 0.75, 1.0])
    amount = _with_ending(low + int((high - low) * share), ending, rng)
    if kind == "failed":
        amount = _with_ending(amount, rng.choice([13, 14]), rng)
    return amount if low <= amount <= high else None


# When each kind of refund was requested (hours before now) and how long after that it was decided.
REQUESTED_HOURS_AGO = {"pending_approval": (1, 70), "pending_approval_above_limit": (2, 60),
                       "pending_second_approval": (10, 60), "approved": (2, 20), "processing": (3, 30)}
DECIDED_AFTER_HOURS = (1, 40)
HISTORY_DAYS = 88


@dataclass
class _Plan:
    index: int
    kind: str
    requester: Any
    payment: Payment
    amount: int
    steps: list[tuple[datetime, str]] = field(default_factory=list)
    refund: Refund | None = None


def _schedule(rng: random.Random, kind: str, now: datetime) -> list[tuple[datetime, str]]:
    """The moments of one refund's life: requested, then each decision."""
    hours = REQUESTED_HOURS_AGO.get(kind)
    requested = now - (timedelta(hours=rng.uniform(*hours)) if hours else timedelta(days=rng.uniform(2, HISTORY_DAYS)))
    steps = [(requested, "request")]
    if kind.startswith("pending_approval"):
        return steps
    first = requested + timedelta(hours=rng.uniform(*DECIDED_AFTER_HOURS))
    first = min(first, now - timedelta(minutes=30))
    steps.append((first, {"rejected": "reject", "cancelled": "cancel"}.get(kind, "approve")))
    if kind in ("succeeded_dual",):
        steps.append((min(first + timedelta(hours=rng.uniform(1, 24)), now - timedelta(minutes=10)), "approve_second"))
    return steps


def _plans(rng: random.Random, people: People, now: datetime) -> list[_Plan]:
    payments = _candidates()
    rng.shuffle(payments)
    used: set[int] = set()
    plans = []
    slots = [(kind, ending) for kind, n, _dual, ending in PLAN for _ in range(n)]
    for index, (kind, ending) in enumerate(slots):
        steps = _schedule(rng, kind, now)
        requested = steps[0][0]
        choice = next(((p, a) for p in payments if p.pk not in used and p.captured_at < requested - timedelta(days=1)
                       for a in [_amount(rng, p, kind, ending)] if a is not None), None)
        if choice is None:
            logger.info("demo refunds: no payment suits a %s refund; skipped", kind)
            continue
        used.add(choice[0].pk)
        plans.append(_Plan(index=index, kind=kind, requester=people.specialists[index % 2], payment=choice[0],
                           amount=choice[1], steps=steps))
    return plans


def _play(rng: random.Random, plan: _Plan, action: str, people: People) -> None:
    first, second = people.leads[plan.index % 2], people.leads[(plan.index + 1) % 2]
    if action == "request":
        plan.refund = refund_request(
            payment=plan.payment, requester=plan.requester, amount_minor=plan.amount,
            reason=rng.choice(RefundReason.values), note=rng.choice(NOTES),
            idempotency_key=f"{KEY_PREFIX}{plan.index:03d}",
        )
    elif action == "reject":
        refund_reject(refund=plan.refund, actor=first, reason=rng.choice(REJECT_REASONS))
    elif action == "cancel":
        canceller = plan.requester if plan.index % 3 else first
        refund_cancel(refund=plan.refund, actor=canceller, reason="The customer withdrew the request.")
    elif action == "approve":
        refund_approve(refund=plan.refund, actor=first, reason=rng.choice(APPROVE_REASONS),
                       submit=plan.kind != "approved")
    elif action == "approve_second":
        refund_approve(refund=plan.refund, actor=second, reason="Second approval: amounts and invoice checked.")


def seed(*, rng: random.Random) -> int:
    """Create the demo refunds once; returns how many were created (0 when they are already there)."""
    people = demo_start(what="refunds", already_seeded=Refund.objects.filter(
        idempotency_key__startswith=KEY_PREFIX).exists())
    if people is None:
        return 0
    now = timezone.now()
    plans = _plans(rng, people, now)
    if not plans:
        logger.warning("no payments in the ledger: seed the demo ledger first")
        return 0
    stopped = demo_play([(at, plan.index, action, partial(_play, rng, plan, action, people))
                         for plan in plans for at, action in plan.steps], what="refund")
    logger.info("demo refunds seeded: %d", len(plans), extra={"refunds": len(plans), "stopped": stopped})
    return len(plans)
