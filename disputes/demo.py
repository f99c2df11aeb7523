"""Demo disputes: ~140 created over the last 90 days, in every state, stage, network and reason category.

``seed(rng=random.Random(seed))`` runs after the demo users and the ledger exist (``manage.py seed_demo``).
Each dispute is planned first: its state and stage, the moment of every step (reported, claimed,
evidence added, submitted, the PSP's outcome, reopened at the next stage …), its network and its
payment. Then the steps of all disputes are played in time order through the services people and
the PSPs' webhooks call (``dispute_create``, ``case_claim``, ``evidence_add``,
``dispute_submit_evidence``, which renders the evidence packet, ``dispute_mark_won`` …) on the demo
clock (``backoffice.demo``), so dates, journal chains and packets are the ones real work leaves.
Deterministic for a given day and ledger; idempotent: nothing happens once demo disputes exist.

Networks follow each month's card volume, so every network's chargeback ratio (the dashboard's:
chargebacks opened ÷ card payments) stays well under 1 %, except a fraud wave on Mastercard in the
month before this one, near the ECP threshold.
"""

from __future__ import annotations

import bisect
import logging
import random
import struct
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Count
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.html import escape

from backoffice.actors import CELERY, SYSTEM, WEBHOOK_ADYEN, WEBHOOK_STRIPE
from backoffice.cases.services import case_claim
from backoffice.demo import People, demo_play, demo_start
from backoffice.insight.programs import program_for
from backoffice.money import format_minor
from backoffice.pdf import render_pdf
from invoices.models import Payment

from .models import GENERIC_NETWORK, Dispute, DisputeStage, DisputeState, ReasonCategory, ReasonCode, Requirement
from .services import (
    dispute_accept,
    dispute_close_inquiry,
    dispute_create,
    dispute_expire,
    dispute_mark_lost,
    dispute_mark_won,
    dispute_open_chargeback,
    dispute_propose_accept,
    dispute_reopen,
    dispute_submit_evidence,
    evidence_add,
)

logger = logging.getLogger(__name__)

DEMO_PREFIX = "dp_demo_"
NETWORKS = ("visa", "mastercard", "amex", "discover", "jcb", "unionpay", "other")
CATEGORIES = tuple(ReasonCategory.values)
HISTORY_DAYS = 89  # every demo dispute was created in the last 90 days
MONTHLY_RATIO = (0.0035, 0.0065)  # the share of a network's card payments disputed in a month, drawn per month
WAVE_SHARE = 0.85  # the fraud wave brings Mastercard's month to this share of the ECP threshold

S, ST = DisputeState, DisputeStage
# (state, stage, how many): every state and stage present.
SCENARIOS: list[tuple[str, str, int]] = [
    (S.INQUIRY, ST.INQUIRY, 10),
    (S.CLOSED, ST.INQUIRY, 6),
    (S.NEEDS_RESPONSE, ST.CHARGEBACK, 32),
    (S.NEEDS_RESPONSE, ST.PRE_ARBITRATION, 6),
    (S.NEEDS_RESPONSE, ST.ARBITRATION, 3),
    (S.UNDER_REVIEW, ST.CHARGEBACK, 16),
    (S.UNDER_REVIEW, ST.PRE_ARBITRATION, 3),
    (S.UNDER_REVIEW, ST.ARBITRATION, 2),
    (S.WON, ST.CHARGEBACK, 12),
    (S.WON, ST.PRE_ARBITRATION, 3),
    (S.WON, ST.ARBITRATION, 1),
    (S.LOST, ST.CHARGEBACK, 8),
    (S.LOST, ST.PRE_ARBITRATION, 2),
    (S.LOST, ST.ARBITRATION, 1),
    (S.ACCEPTED, ST.CHARGEBACK, 7),
    (S.ACCEPTED, ST.PRE_ARBITRATION, 1),
    (S.EXPIRED, ST.CHARGEBACK, 5),
    (S.EXPIRED, ST.PRE_ARBITRATION, 1),
]
# The fraud wave: card-testing chargebacks on Mastercard last month, most of them already decided
# (final states, weighted).
WAVE: list[tuple[str, int]] = [(S.LOST, 4), (S.ACCEPTED, 3), (S.WON, 2), (S.UNDER_REVIEW, 1)]
STAGE_ORDER = [ST.CHARGEBACK, ST.PRE_ARBITRATION, ST.ARBITRATION]

OVERRIDE_REASON = "Usage logs are conclusive; submitting without the full checklist."
ACCEPT_REASONS = ["Amount below the cost of fighting it.",
                  "Customer confirmed the card was stolen; liability accepted.",
                  "No usage after the charge; we would not win this one."]
PROPOSE_REASONS = ["The cardholder never used the account after the charge; we cannot prove usage.",
                   "Same card as three other fraud disputes this month; the customer confirmed it was stolen."]

EVIDENCE_TEXT = {
    "proof_of_delivery": "Service provisioned on {start}: project {project} with {gpus} GPUs was created and ran "
                         "jobs for {customer} through the billing period.",
    "usage_logs": "Usage of {customer} on invoice {invoice}: {hours} GPU-hours over {jobs} jobs, {calls} API "
                  "calls, {logins} console logins; last login {last_login} from 203.0.113.{ip}.",
    "customer_communication": "E-mail from {email} on {start}: \"Thanks, the cluster is running fine, invoice "
                              "received.\" No complaint was raised before the dispute.",
    "avs_cvv_result": "AVS: Y (street address and postcode match). CVV2: M (match).",
    "three_d_secure": "3-D Secure 2.2 authentication succeeded (frictionless), ECI 05, CAVV present, "
                      "transaction id 3ds_{ref}.",
    "device_ip_history": "Payment made from device fp_{ref} and IP 198.51.100.{ip}, the same device and IP "
                         "as {prior} earlier undisputed payments.",
    "prior_undisputed_transactions": "{prior} earlier payments with the same card ending {last4} since "
                                     "{since}, none disputed.",
    "terms_of_service": "Terms of service v4.2 accepted by clickwrap at sign-up on {since} (IP 203.0.113.{ip}).",
    "cancellation_policy": "Cancellation policy: subscriptions can be cancelled any time in the console; "
                           "cancellation takes effect at the end of the billing month.",
    "refund_policy": "Refund policy: usage already consumed is not refundable; unused prepaid credit is refunded "
                     "on request within 30 days.",
    "refund_record": "No refund was requested for invoice {invoice}; no credit is outstanding.",
    "service_description": "Plan as sold: on-demand GPU instances billed per second, 99.9% monthly SLA, "
                           "usage visible in the console in real time.",
    "invoice": "Invoice {invoice} for {amount} sent to {email} on {start}.",
    "duplicate_charge_documentation": "The two charges in question pay two different invoices: {invoice} and "
                                      "the previous month's invoice; each was charged once.",
    "authorization_record": "Authorisation approved, code {auth}, on {start} for the full amount.",
    "other": "Account notes from the customer success team.",
}


@dataclass


@dataclass
class _Step:
    at: datetime
    action: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Plan:
    index: int
    state: str
    stage: str
    created_at: datetime
    steps: list[_Step]
    assignee: Any
    evidence_kinds: list[str] = field(default_factory=list)
    complete: bool = True
    category: str = ""
    network: str = ""
    payment: Payment | None = None
    code: ReasonCode | None = None
    dispute_id: int | None = None
    specialist: Any = None

    @property
    def chargeback(self) -> bool:
        """Counted in the chargeback ratio: not an inquiry (the dashboard leaves inquiries out)."""
        return self.stage != ST.INQUIRY


def _png(rng: random.Random, width: int = 160, height: int = 60) -> bytes:
    """A small bar chart as a PNG (a "usage dashboard screenshot"), written with zlib only."""
    bars = [rng.randint(8, height - 4) for _ in range(width // 10)]
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            bar = bars[x // 10]
            filled = height - y <= bar and x % 10 < 8
            row += bytes((31, 95, 191) if filled else (245, 247, 250))
        rows.append(bytes(row))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows))) + \
        chunk(b"IEND", b"")


def _usage_csv(rng: random.Random, start: datetime) -> bytes:
    lines = ["date,gpu_hours,api_calls,logins"]
    for day in range(14):
        lines.append(f"{(start + timedelta(days=day)):%Y-%m-%d},{rng.uniform(5, 90):.2f},"
                     f"{rng.randint(200, 40000)},{rng.randint(0, 12)}")
    return ("\n".join(lines) + "\n").encode()


def _codes(network: str, category: str, catalogue: dict[tuple[str, str], list[ReasonCode]]) -> list[ReasonCode]:
    return (catalogue.get((network, category)) or catalogue.get((GENERIC_NETWORK, category))
            or [c for (n, _), codes in catalogue.items() if n == network for c in codes])


def _evidence_for(rng: random.Random, code: ReasonCode, completeness: str) -> list[str]:
    kinds: list[str] = []
    for text in code.required_evidence:
        options = Requirement.parse(text).kinds
        kinds.append(options[0] if len(options) == 1 or rng.random() < 0.5 else options[-1])
    if completeness == "partial" and kinds:
        kinds = kinds[: rng.randint(0, max(0, len(kinds) - 1))]
    elif completeness == "none":
        kinds = []
    if completeness == "complete" and rng.random() < 0.3 and "invoice" not in kinds:
        kinds.append("invoice")
    return kinds


# ---------------------------------------------------------------- planning: when each step happens


def _days(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(hours=rng.uniform(low * 24, high * 24))


def _timeline(rng: random.Random, state: str, stage: str, now: datetime) -> tuple[datetime, list[_Step]]:
    """The moments of one dispute's life, from the PSP's report to ``state`` at ``stage`` by ``now``."""
    window = timedelta(days=rng.randint(20, 40))  # the response window the PSP gives
    buffer = timedelta(hours=settings.DISPUTE_DEADLINE_BUFFER_HOURS)
    steps: list[_Step] = []
    due: datetime | None = None
    if state in (S.INQUIRY, S.NEEDS_RESPONSE):
        roll = rng.random()
        if state == S.NEEDS_RESPONSE and roll < 0.1:
            due = now - timedelta(hours=rng.randint(2, 96))  # past the network deadline: expire-eligible
        elif roll < 0.28:
            due = now + buffer - timedelta(hours=rng.randint(1, 40))  # internal due passed: overdue
        elif roll < 0.5:
            due = now + buffer + timedelta(hours=rng.randint(2, 70))  # internal due within 3 days
        else:
            due = now + buffer + timedelta(days=rng.randint(3, 25))
        start = min(due - window, now - _days(rng, 0.2, 3))
    elif state == S.CLOSED:
        end = now - _days(rng, 1, 80)
        start = end - _days(rng, 2, 8)
        steps.append(_Step(end, "close_inquiry"))
    elif state == S.UNDER_REVIEW:
        submitted = now - _days(rng, 0.5, 20)
        start = submitted - _days(rng, 2, 12)
        steps.append(_Step(submitted, "submit"))
    elif state in (S.WON, S.LOST):
        outcome = now - _days(rng, 1, 70)
        submitted = outcome - _days(rng, 7, 25)
        start = submitted - _days(rng, 2, 12)
        steps += [_Step(submitted, "submit"), _Step(outcome, f"mark_{state}")]
    elif state == S.ACCEPTED:
        accepted = now - _days(rng, 1, 85)
        start = accepted - _days(rng, 1, 10)
        if rng.random() < 0.4:
            steps.append(_Step(start + (accepted - start) * 0.7, "propose_accept"))
        steps.append(_Step(accepted, "accept"))
    else:  # expired
        due = now - _days(rng, 2, 60)
        start = due - window
        steps.append(_Step(due + timedelta(minutes=rng.randint(5, 180)), "expire"))
    due = due or start + window

    # Earlier cycles, each decided and then reopened by the issuer at the next stage.
    cycles = STAGE_ORDER.index(stage) + 1 if stage in STAGE_ORDER else 0
    first_start, first_due = start, due
    for _ in range(max(0, cycles - 1)):
        outcome = first_start - _days(rng, 1, 5)
        submitted = outcome - _days(rng, 7, 20)
        earlier_start = submitted - _days(rng, 2, 10)
        steps += [_Step(submitted, "submit"), _Step(outcome, f"mark_{rng.choice([S.WON, S.LOST])}"),
                  _Step(first_start, "reopen", {"due_at": first_due})]
        first_start, first_due = earlier_start, earlier_start + window
    created, first_stage = first_start, ST.INQUIRY if stage == ST.INQUIRY else ST.CHARGEBACK
    if cycles and rng.random() < 0.15:  # it began as an inquiry (retrieval request)
        created, first_stage = first_start - _days(rng, 4, 12), ST.INQUIRY
        steps.append(_Step(first_start, "open_chargeback", {"due_at": first_due}))
        first_due = created + window
    steps.append(_Step(created, "create", {"stage": first_stage, "due_at": first_due}))
    steps.sort(key=lambda step: step.at)
    return created, steps


def _plan(rng: random.Random, index: int, state: str, stage: str, now: datetime, people: People,
          created_in: tuple[datetime, datetime] | None = None) -> _Plan | None:
    """One dispute's plan whose life fits in the last 90 days (and in ``created_in`` when given)."""
    earliest = now - timedelta(days=HISTORY_DAYS)
    for _attempt in range(400):
        created, steps = _timeline(rng, state, stage, now)
        low, high = created_in or (earliest, now)
        if low <= created < high and created >= earliest and steps[-1].at <= now - timedelta(minutes=10):
            break
    else:
        return None
    specialist = rng.choice(people.specialists)
    assignee = None
    if state != S.INQUIRY or rng.random() < 0.5:
        assignee = rng.choice([*people.specialists, people.leads[0]]) if rng.random() < 0.8 else None
    if state == S.NEEDS_RESPONSE:
        completeness = rng.choice(["complete", "partial", "none"])
    elif state in (S.UNDER_REVIEW, S.WON, S.LOST):
        completeness = "complete" if rng.random() < 0.85 else "partial"
    elif state == S.INQUIRY:
        completeness = "partial" if rng.random() < 0.4 else "none"
    else:
        completeness = "none" if rng.random() < 0.6 else "partial"
    plan = _Plan(index=index, state=state, stage=stage, created_at=created, steps=steps, assignee=assignee,
                 specialist=specialist, complete=completeness == "complete")
    plan.evidence_kinds = [completeness]  # replaced by real kinds once the reason code is known
    if assignee is not None:
        plan.steps.insert(1, _Step(created + _days(rng, 0.02, 0.6), "claim"))
    if state == S.NEEDS_RESPONSE and rng.random() < 0.08:
        plan.steps.append(_Step(now - _days(rng, 0.05, 0.15), "propose_accept"))
    return plan


def _evidence_steps(rng: random.Random, plan: _Plan, now: datetime) -> None:
    """Evidence arrives after the claim, before the first submission or decision (or before now)."""
    if not plan.evidence_kinds:
        plan.steps.sort(key=lambda step: step.at)
        return
    after = plan.steps[1].at if plan.assignee is not None else plan.created_at
    closing = [s.at for s in plan.steps if s.action in ("submit", "close_inquiry", "accept", "expire",
                                                         "propose_accept")]
    before = min(closing) if closing else now
    low, high = after + timedelta(minutes=20), before - timedelta(minutes=20)
    if high <= low:
        high = low + timedelta(minutes=len(plan.evidence_kinds))
    count = len(plan.evidence_kinds)
    for number, kind in enumerate(plan.evidence_kinds):
        plan.steps.append(_Step(low + (high - low) * (number + 1) / (count + 1), "evidence", {"kind": kind}))
    plan.steps.sort(key=lambda step: step.at)


# ---------------------------------------------------------------- planning: networks and payments


def _month(moment: datetime) -> date:
    return moment.astimezone(UTC).date().replace(day=1)


def _previous_month(month: date) -> date:
    return (month - timedelta(days=1)).replace(day=1)


def _card_volume() -> dict[tuple[str, date], int]:
    """Card payments per network and calendar month (UTC), as the dashboard counts them."""
    rows = (Payment.objects.filter(method=Payment.Method.CARD).exclude(network="")
            .annotate(month=TruncMonth("captured_at", tzinfo=UTC)).values_list("network", "month")
            .annotate(n=Count("id")).order_by())
    return {(network, _month(month) if isinstance(month, datetime) else month): n for network, month, n in rows}


def _denominator(volume: dict[tuple[str, date], int], network: str, month: date) -> int:
    program = program_for(network, month)
    counted = _previous_month(month) if program and program.denominator == "previous_month" else month
    return volume.get((network, counted), 0)


def _assign_networks(rng: random.Random, plans: list[_Plan], volume: dict[tuple[str, date], int]) -> None:
    """Give each dispute a network: within each month, in proportion to what that network's volume
    leaves room for at a ratio drawn from ``MONTHLY_RATIO``; the inquiries fill in rare networks."""
    by_month: dict[date, list[_Plan]] = defaultdict(list)
    for plan in plans:
        if plan.chargeback and not plan.network:
            by_month[_month(plan.created_at)].append(plan)
    for month, members in sorted(by_month.items()):
        taken = defaultdict(int)
        for plan in plans:
            if plan.network and plan.chargeback and _month(plan.created_at) == month:
                taken[plan.network] += 1
        room = {n: int(rng.uniform(*MONTHLY_RATIO) * _denominator(volume, n, month)) - taken[n] for n in NETWORKS}
        for plan in members:
            weights = [max(room[n], 0) for n in NETWORKS]
            if not any(weights):  # the month is full everywhere: Visa takes the rest
                weights = [1 if n == "visa" else 0 for n in NETWORKS]
            plan.network = rng.choices(NETWORKS, weights=weights, k=1)[0]
            room[plan.network] -= 1
    inquiries = [plan for plan in plans if not plan.chargeback]
    missing = [n for n in NETWORKS if not any(plan.network == n for plan in plans)]
    for plan in inquiries:
        plan.network = missing.pop() if missing else rng.choices(
            NETWORKS, weights=[sum(v for (n, _), v in volume.items() if n == network) for network in NETWORKS],
            k=1)[0]


def _assign_payments(rng: random.Random, plans: list[_Plan]) -> None:
    """A card payment of the dispute's network captured 2 to 75 days before it (one dispute per payment)."""
    pools: dict[str, tuple[list[datetime], list[int]]] = {}
    for network in NETWORKS:
        rows = list(Payment.objects.filter(method=Payment.Method.CARD, network=network)
                    .order_by("captured_at", "id").values_list("captured_at", "id"))
        pools[network] = ([at for at, _ in rows], [pk for _, pk in rows])
    used: set[int] = set()
    chosen: dict[int, int] = {}
    for plan in plans:
        times, ids = pools[plan.network]
        low = bisect.bisect_left(times, plan.created_at - timedelta(days=75))
        high = bisect.bisect_left(times, plan.created_at - timedelta(days=2))
        candidates = [pk for pk in ids[low:high] if pk not in used] or \
            [pk for pk in ids[:high] if pk not in used]
        if candidates:
            chosen[plan.index] = rng.choice(candidates)
            used.add(chosen[plan.index])
    payments = Payment.objects.select_related("customer", "invoice").in_bulk(list(chosen.values()))
    for plan in plans:
        plan.payment = payments.get(chosen.get(plan.index))


# ---------------------------------------------------------------- playing the steps through the services


def _reporter(payment: Payment) -> Any:
    return {Payment.Psp.STRIPE: WEBHOOK_STRIPE, Payment.Psp.ADYEN: WEBHOOK_ADYEN}.get(payment.psp, SYSTEM)


def _invoice_pdf(plan: _Plan) -> bytes:
    invoice, customer = plan.payment.invoice, plan.payment.customer
    return render_pdf(
        f"<h1>Invoice {escape(invoice.number)}</h1><p>{escape(customer.name)}<br>{escape(customer.email)}</p>"
        f"<p>Issued {invoice.issued_at:%Y-%m-%d}, due {invoice.due_at:%Y-%m-%d}.</p>"
        f"<p>Total: {escape(format_minor(invoice.amount_minor, invoice.currency))}</p>"
        f"<p>Paid by card ending {escape(plan.payment.card_last4 or '0000')} "
        f"on {plan.payment.captured_at:%Y-%m-%d}.</p>"
    )


def _upload(rng: random.Random, kind: str, plan: _Plan) -> SimpleUploadedFile | None:
    """Some evidence comes as a file: usage exports (CSV), dashboard screenshots (PNG), invoices (PDF)."""
    if kind == "invoice" and rng.random() < 0.6:
        return SimpleUploadedFile(f"{plan.payment.invoice.number}.pdf", _invoice_pdf(plan), "application/pdf")
    if kind == "usage_logs" and rng.random() < 0.5:
        return SimpleUploadedFile("usage-export.csv", _usage_csv(rng, plan.payment.invoice.issued_at), "text/csv")
    if kind in ("usage_logs", "proof_of_delivery") and rng.random() < 0.3:
        return SimpleUploadedFile("usage-dashboard.png", _png(rng), "image/png")
    return None


def _play(rng: random.Random, plan: _Plan, step: _Step, people: People) -> None:
    payment = plan.payment
    reporter = _reporter(payment)
    lead = people.leads[0]
    worker = plan.assignee or plan.specialist
    common = {"dispute_id": plan.dispute_id}
    action = step.action
    if action == "create":
        by_hand = rng.random() < 0.15
        partial = max(1, int(payment.amount_minor * rng.uniform(0.3, 0.95)))
        dispute = dispute_create(
            actor=plan.specialist if by_hand else reporter, payment=payment,
            amount_minor=payment.amount_minor if rng.random() < 0.8 else partial, currency=payment.currency,
            network=plan.network, reason_code=plan.code, psp=payment.psp,
            psp_dispute_id=f"{DEMO_PREFIX}{plan.index:05d}_{rng.randrange(16**8):08x}",
            due_at=step.data["due_at"], stage=step.data["stage"],
            reason="Entered by hand from the PSP's e-mail notice." if by_hand else "",
        )
        plan.dispute_id = dispute.pk
    elif action == "claim":
        case_claim(model=Dispute, pk=plan.dispute_id, actor=plan.assignee)
    elif action == "evidence":
        kind = step.data["kind"]
        evidence_add(**common, actor=worker, kind=kind, text=_evidence_text(rng, kind, plan),
                     upload=_upload(rng, kind, plan))
    elif action == "open_chargeback":
        dispute_open_chargeback(**common, actor=reporter, reason="The issuer turned the inquiry into a chargeback.",
                                due_at=step.data["due_at"])
    elif action == "submit":
        if plan.complete:
            dispute_submit_evidence(**common, actor=worker, reason="Evidence complete; submitted before the deadline.")
        else:
            dispute_submit_evidence(**common, actor=lead, reason=OVERRIDE_REASON, override=True)
    elif action in ("mark_won", "mark_lost"):
        outcome = dispute_mark_won if action == "mark_won" else dispute_mark_lost
        outcome(**common, actor=reporter, reason="The PSP reported the outcome.")
    elif action == "reopen":
        dispute_reopen(**common, actor=reporter, reason="The issuer escalated the dispute.",
                       due_at=step.data["due_at"])
    elif action == "propose_accept":
        dispute_propose_accept(**common, actor=plan.specialist, reason=rng.choice(PROPOSE_REASONS))
    elif action == "accept":
        dispute_accept(**common, actor=lead, reason=rng.choice(ACCEPT_REASONS))
    elif action == "expire":
        dispute_expire(**common, actor=CELERY, reason="No response before the deadline.")
    elif action == "close_inquiry":
        dispute_close_inquiry(**common, actor=worker,
                              reason="Answered the retrieval request with the invoice; the issuer closed it.")


def seed(*, rng: random.Random) -> int:
    """Create the demo disputes once; returns how many were created (0 when they are already there)."""
    people = demo_start(what="disputes", already_seeded=Dispute.objects.filter(
        psp_dispute_id__startswith=DEMO_PREFIX).exists())
    if people is None:
        return 0
    volume = _card_volume()
    if not volume:
        logger.warning("no card payments in the ledger: seed the demo ledger first")
        return 0
    now = timezone.now()
    slots = [(state, stage) for state, stage, n in SCENARIOS for _ in range(n)]
    rng.shuffle(slots)
    plans = [p for index, (state, stage) in enumerate(slots, start=1)
             if (p := _plan(rng, index, state, stage, now, people)) is not None]
    wave_month = _previous_month(_month(now))
    wave_start = datetime.combine(wave_month, datetime.min.time(), tzinfo=UTC)
    wave_end = datetime.combine(_month(now), datetime.min.time(), tzinfo=UTC)
    wave_size = round(WAVE_SHARE * 1.5 / 100 * _denominator(volume, "mastercard", wave_month))
    wave_states = rng.choices([state for state, _ in WAVE], weights=[n for _, n in WAVE], k=wave_size)
    for number, state in enumerate(wave_states, start=len(slots) + 1):
        plan = _plan(rng, number, state, ST.CHARGEBACK, now, people, created_in=(wave_start, wave_end))
        if plan is not None:
            plan.network, plan.category = "mastercard", ReasonCategory.FRAUD
            plans.append(plan)
    _assign_networks(rng, plans, volume)
    _assign_payments(rng, plans)
    catalogue: dict[tuple[str, str], list[ReasonCode]] = {}
    for code in ReasonCode.objects.order_by("network", "code"):
        catalogue.setdefault((code.network, code.category), []).append(code)
    plans = [plan for plan in plans if plan.payment is not None]
    for number, plan in enumerate(plans):
        plan.category = plan.category or CATEGORIES[number % len(CATEGORIES)]
        plan.code = rng.choice(_codes(plan.network, plan.category, catalogue))
        plan.evidence_kinds = _evidence_for(rng, plan.code, plan.evidence_kinds[0])
        _evidence_steps(rng, plan, now)

    stopped = demo_play([(step.at, plan.index, step.action, partial(_play, rng, plan, step, people))
                         for plan in plans for step in plan.steps], what="dispute")
    logger.info("demo disputes seeded: %d", len(plans), extra={"disputes": len(plans), "stopped": stopped})
    return len(plans)
def _evidence_text(rng: random.Random, kind: str, plan: _Plan) -> str:
    payment = plan.payment
    start = payment.invoice.issued_at
    facts = {
        "start": f"{start:%Y-%m-%d}", "project": f"prj-{rng.randrange(10**6):06d}", "gpus": rng.choice([1, 2, 4, 8]),
        "customer": payment.customer.name, "invoice": payment.invoice.number,
        "hours": f"{rng.uniform(40, 2400):.1f}", "jobs": rng.randint(3, 400),
        "calls": f"{rng.randint(10**3, 10**6):,}", "logins": rng.randint(2, 90),
        "last_login": f"{(payment.captured_at + timedelta(days=rng.randint(1, 9))):%Y-%m-%d}",
        "ip": rng.randint(2, 254), "email": payment.customer.email or "billing@customer.example",
        "ref": f"{rng.randrange(16**10):010x}", "prior": rng.randint(2, 14), "last4": payment.card_last4 or "0000",
        "since": f"{payment.customer.created_at:%Y-%m-%d}", "auth": f"{rng.randrange(36**6):06X}"[:6],
        "amount": f"{payment.amount_minor} {payment.currency} (minor units)",
    }
    return EVIDENCE_TEXT.get(kind, EVIDENCE_TEXT["other"]).format(**facts)


