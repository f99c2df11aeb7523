"""Demo refunds: ~150 in every state, created through the services so journals and approvals are real.

``seed(rng=random.Random(seed))`` is deterministic for a given ledger and idempotent per refund
(each one carries the idempotency key ``demo-refund-NNN`` of its requester; one already there is
skipped). Payments under a dispute are left alone. The PSP is the sandbox whatever
``PAYMENT_GATEWAY`` says, and the amounts pick its documented outcomes: ``…13`` / ``…14`` fail,
``…66`` stays ``processing`` (the PSP answered "pending"), ``…57`` times out once then succeeds.

Plan (150): 30 pending approval (a few above a lead's limit), 12 pending a second approval (above
the dual threshold, approved once), 8 approved and not yet submitted, 8 processing, 50 succeeded
(some with two approvals), 12 failed, 15 rejected, 15 cancelled.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef
from django.test import override_settings

from backoffice.errors import DomainError
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


@dataclass
class _People:
    specialists: list
    leads: list


def _people() -> _People | None:
    users = {u.username: u for u in get_user_model().objects.filter(
        username__in=["specialist", "specialist2", "lead", "lead2"])}
    if len(users) < 4:
        return None
    return _People([users["specialist"], users["specialist2"]], [users["lead"], users["lead2"]])


def _candidates() -> list[Payment]:
    qs = Payment.objects.filter(currency__in=list(TEAM_LEAD_REFUND_LIMIT)).select_related("invoice")
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


def seed(*, rng: random.Random) -> None:
    people = _people()
    if people is None:
        logger.warning("demo users are missing: run seed_demo (it creates them first)")
        return
    slots = [(kind, dual, ending) for kind, n, dual, ending in PLAN for _ in range(n)]
    payments = _candidates()
    if not payments:
        logger.warning("no payments in the ledger: seed the demo ledger first")
        return
    rng.shuffle(payments)
    used: set[int] = set()
    created = 0
    with override_settings(PAYMENT_GATEWAY="sandbox"):
        for index, (kind, _dual, ending) in enumerate(slots):
            key = f"{KEY_PREFIX}{index:03d}"
            requester = people.specialists[index % 2]
            if Refund.objects.filter(requester=requester, idempotency_key=key).exists():
                continue
            choice = next(((p, a) for p in payments if p.pk not in used
                           for a in [_amount(rng, p, kind, ending)] if a is not None), None)
            if choice is None:
                logger.info("demo refunds: no payment suits a %s refund; skipped", kind)
                continue
            payment, amount = choice
            used.add(payment.pk)
            try:
                _play(rng, kind, index, key, requester, payment, amount, people)
                created += 1
            except DomainError as err:
                logger.warning("demo refund %s (%s) stopped: %s (%s)", key, kind, err.message, err.code)
    logger.info("demo refunds: %s created", created)


def _play(rng: random.Random, kind: str, index: int, key: str, requester, payment: Payment, amount: int,
          people: _People) -> None:
    refund = refund_request(
        payment=payment, requester=requester, amount_minor=amount, reason=rng.choice(RefundReason.values),
        note=rng.choice(NOTES), idempotency_key=key,
    )
    first, second = people.leads[index % 2], people.leads[(index + 1) % 2]
    if kind.startswith("pending_approval"):
        return
    if kind == "rejected":
        refund_reject(refund=refund, actor=first, reason=rng.choice(REJECT_REASONS))
        return
    if kind == "cancelled":
        canceller = requester if index % 3 else first
        refund_cancel(refund=refund, actor=canceller, reason="The customer withdrew the request.")
        return
    refund = refund_approve(refund=refund, actor=first, reason=rng.choice(APPROVE_REASONS),
                            submit=kind != "approved")
    if kind in ("pending_second_approval", "approved"):
        return
    if refund.state == "pending_second_approval":
        refund_approve(refund=refund, actor=second, reason="Second approval: amounts and invoice checked.")
