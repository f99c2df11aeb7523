"""Demo disputes: ~150 across every state, stage, network and reason category, with evidence.

``seed(rng=random.Random(seed))`` runs after the demo users and ledger exist. It is idempotent
(nothing happens once demo disputes exist) and deterministic in every choice it makes; dates are
placed relative to the time it runs, so the queues always show disputes due within days and
overdue ones. Rows are inserted in bulk in one transaction, and each dispute's history
(creation, evidence, transitions) is written with ``journal_record``, so every chain verifies.
"""

from __future__ import annotations

import hashlib
import logging
import random
import struct
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from backoffice.actors import CELERY, SYSTEM, WEBHOOK_STRIPE
from backoffice.journal.services import journal_record
from invoices.models import Payment

from .models import (
    GENERIC_NETWORK,
    Dispute,
    DisputeStage,
    DisputeState,
    EvidenceItem,
    ReasonCategory,
    ReasonCode,
    Requirement,
    evidence_upload_to,
)

logger = logging.getLogger(__name__)

DEMO_PREFIX = "dp_demo_"
NETWORKS = ("visa", "mastercard", "amex", "discover", "jcb", "unionpay", "other")
CATEGORIES = tuple(ReasonCategory.values)

S, ST = DisputeState, DisputeStage
# (state, stage, how many): 150 in all, every state and stage present.
SCENARIOS: list[tuple[str, str, int]] = [
    (S.INQUIRY, ST.INQUIRY, 12),
    (S.CLOSED, ST.INQUIRY, 8),
    (S.NEEDS_RESPONSE, ST.CHARGEBACK, 39),
    (S.NEEDS_RESPONSE, ST.PRE_ARBITRATION, 8),
    (S.NEEDS_RESPONSE, ST.ARBITRATION, 4),
    (S.UNDER_REVIEW, ST.CHARGEBACK, 20),
    (S.UNDER_REVIEW, ST.PRE_ARBITRATION, 4),
    (S.UNDER_REVIEW, ST.ARBITRATION, 2),
    (S.WON, ST.CHARGEBACK, 15),
    (S.WON, ST.PRE_ARBITRATION, 3),
    (S.WON, ST.ARBITRATION, 2),
    (S.LOST, ST.CHARGEBACK, 10),
    (S.LOST, ST.PRE_ARBITRATION, 3),
    (S.LOST, ST.ARBITRATION, 2),
    (S.ACCEPTED, ST.CHARGEBACK, 8),
    (S.ACCEPTED, ST.PRE_ARBITRATION, 2),
    (S.EXPIRED, ST.CHARGEBACK, 6),
    (S.EXPIRED, ST.PRE_ARBITRATION, 2),
]
STAGE_ORDER = [ST.CHARGEBACK, ST.PRE_ARBITRATION, ST.ARBITRATION]

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
class _Plan:
    payment: Payment
    state: str
    stage: str
    code: ReasonCode
    created_at: datetime
    due_at: datetime
    assignee: Any
    evidence_kinds: list[str]
    override: bool = False
    submitted_at: datetime | None = None
    resolved_at: datetime | None = None
    history: list[tuple[str, str, str, Any, str]] = field(default_factory=list)  # transition, src, dst, actor, why


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


def _pick_payments(rng: random.Random, count: int) -> list[Payment]:
    """Card payments, spread so every network appears; at most one demo dispute per payment."""
    by_network: dict[str, list[Payment]] = {}
    qs = (Payment.objects.filter(method=Payment.Method.CARD).exclude(network="")
          .select_related("customer", "invoice").order_by("-captured_at", "id"))
    for payment in qs[: count * 12]:
        by_network.setdefault(payment.network, []).append(payment)
    for payments in by_network.values():
        rng.shuffle(payments)
    # Mostly Visa and Mastercard, as in real life, but every network present.
    weights = {"visa": 45, "mastercard": 30, "amex": 10, "discover": 5, "jcb": 4, "unionpay": 3, "other": 3}
    chosen: list[Payment] = []
    for network in NETWORKS:  # at least one of each first
        if by_network.get(network):
            chosen.append(by_network[network].pop())
    while len(chosen) < count and any(by_network.values()):
        available = [n for n in NETWORKS if by_network.get(n)]
        network = rng.choices(available, weights=[weights[n] for n in available], k=1)[0]
        chosen.append(by_network[network].pop())
    return chosen


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


def _reporter(payment: Payment):
    return WEBHOOK_STRIPE if payment.psp == Payment.Psp.STRIPE else SYSTEM


def _plan(rng: random.Random, payment: Payment, state: str, stage: str, code: ReasonCode, now: datetime,
          people: dict[str, Any]) -> _Plan:
    window = timedelta(days=code.response_days)
    buffer = timedelta(hours=settings.DISPUTE_DEADLINE_BUFFER_HOURS)
    earliest = payment.captured_at + timedelta(days=1)
    open_now = state in (S.INQUIRY, S.NEEDS_RESPONSE)
    if open_now:
        roll = rng.random()
        if state == S.NEEDS_RESPONSE and roll < 0.1:
            due_in = timedelta(hours=-rng.randint(2, 96))  # past the network deadline: expire-eligible
        elif roll < 0.28:
            due_in = buffer - timedelta(hours=rng.randint(1, 40))  # internal due passed: overdue
        elif roll < 0.5:
            due_in = buffer + timedelta(hours=rng.randint(2, 70))  # internal due within 3 days
        else:
            due_in = buffer + timedelta(days=rng.randint(3, 25))
        due_at = now + due_in
    else:
        due_at = now - timedelta(days=rng.randint(3, 60), hours=rng.randint(0, 23))
    cycles = STAGE_ORDER.index(stage) + 1 if stage in STAGE_ORDER else 1
    created_at = max(earliest, due_at - window * cycles - timedelta(days=rng.randint(0, 3) if open_now else 5))
    created_at = min(created_at, now - timedelta(hours=1))
    specialist = rng.choice(people["specialists"])
    assignee = None
    if state not in (S.INQUIRY,) or rng.random() < 0.5:
        assignee = rng.choice(people["specialists"] + [people["lead"]]) if rng.random() < 0.8 else None
    if state == S.NEEDS_RESPONSE:
        completeness = rng.choice(["complete", "partial", "none"])
    elif state in (S.UNDER_REVIEW, S.WON, S.LOST):
        completeness = "complete" if rng.random() < 0.85 else "partial"
    elif state == S.INQUIRY:
        completeness = "partial" if rng.random() < 0.4 else "none"
    else:
        completeness = "none" if rng.random() < 0.6 else "partial"
    kinds = _evidence_for(rng, code, completeness)
    plan = _Plan(payment=payment, state=state, stage=stage, code=code, created_at=created_at, due_at=due_at,
                 assignee=assignee, evidence_kinds=kinds)
    reporter = _reporter(payment)
    lead = people["lead"]

    if stage == ST.INQUIRY:
        if state == S.CLOSED:
            plan.history.append(("close_inquiry", S.INQUIRY, S.CLOSED, specialist,
                                 "Answered the retrieval request with the invoice; the issuer closed it."))
            plan.resolved_at = min(now, created_at + timedelta(days=rng.randint(2, 8)))
        return plan

    if stage == ST.CHARGEBACK and rng.random() < 0.15:
        plan.history.append(("open_chargeback", S.INQUIRY, S.NEEDS_RESPONSE, reporter,
                             "The issuer turned the inquiry into a chargeback."))
    # Earlier cycles that ended in won/lost and were reopened by the issuer.
    for earlier in STAGE_ORDER[: cycles - 1]:
        outcome = S.WON if rng.random() < 0.5 else S.LOST
        plan.history += [
            ("submit_evidence", S.NEEDS_RESPONSE, S.UNDER_REVIEW, specialist, f"Representment at {earlier}."),
            (f"mark_{outcome}", S.UNDER_REVIEW, outcome, reporter, f"PSP reported the {earlier} outcome."),
            ("reopen", outcome, S.NEEDS_RESPONSE, reporter, "The issuer escalated the dispute."),
        ]
    incomplete = completeness != "complete"
    if state in (S.UNDER_REVIEW, S.WON, S.LOST):
        who, why = specialist, "Evidence complete; submitted before the deadline."
        if incomplete:
            who, why, plan.override = lead, "Usage logs are conclusive; submitting without the full checklist.", True
        plan.history.append(("submit_evidence", S.NEEDS_RESPONSE, S.UNDER_REVIEW, who, why))
        plan.submitted_at = min(now, due_at - timedelta(days=rng.randint(1, 5)))
        if state in (S.WON, S.LOST):
            plan.history.append((f"mark_{state}", S.UNDER_REVIEW, state, reporter, "PSP reported the outcome."))
            plan.resolved_at = min(now, plan.submitted_at + timedelta(days=rng.randint(5, 30)))
    elif state == S.ACCEPTED:
        plan.history.append(("accept", S.NEEDS_RESPONSE, S.ACCEPTED, lead,
                             rng.choice(["Amount below the cost of fighting it.",
                                         "Customer confirmed the card was stolen; liability accepted.",
                                         "No usage after the charge; we would not win this one."])))
        plan.resolved_at = min(now, created_at + timedelta(days=rng.randint(1, 10)))
    elif state == S.EXPIRED:
        plan.history.append(("expire", S.NEEDS_RESPONSE, S.EXPIRED, CELERY, "No response before the deadline."))
        plan.resolved_at = due_at + timedelta(minutes=5)
    return plan


def _people() -> dict[str, Any] | None:
    User = get_user_model()
    users = {u.username: u for u in User.objects.filter(username__in=["specialist", "specialist2", "lead", "lead2"])}
    specialists = [users[name] for name in ("specialist", "specialist2") if name in users]
    lead = users.get("lead") or users.get("lead2")
    if not specialists or lead is None:
        return None
    return {"specialists": specialists, "lead": lead}


def seed(*, rng: random.Random) -> None:
    """Create the demo disputes once; a second call changes nothing."""
    if Dispute.objects.filter(psp_dispute_id__startswith=DEMO_PREFIX).exists():
        logger.info("demo disputes already present; nothing to do")
        return
    people = _people()
    if people is None:
        logger.warning("demo users are missing: run seed_demo (it creates them first)")
        return
    catalogue: dict[tuple[str, str], list[ReasonCode]] = {}
    for code in ReasonCode.objects.order_by("network", "code"):
        catalogue.setdefault((code.network, code.category), []).append(code)
    total = sum(n for _, _, n in SCENARIOS)
    payments = _pick_payments(rng, total)
    if not payments:
        logger.warning("no card payments in the ledger: seed the demo ledger first")
        return
    slots = [(state, stage) for state, stage, n in SCENARIOS for _ in range(n)]
    rng.shuffle(slots)
    now = timezone.now()
    plans: list[_Plan] = []
    for index, (payment, (state, stage)) in enumerate(zip(payments, slots, strict=False)):
        category = CATEGORIES[index % len(CATEGORIES)]
        code = rng.choice(_codes(payment.network, category, catalogue))
        plans.append(_plan(rng, payment, state, stage, code, now, people))

    storage = EvidenceItem._meta.get_field("file").storage
    stored: list[str] = []
    try:
        with transaction.atomic():
            _write(rng, plans, now, storage, stored, people)
    except BaseException:
        for name in stored:
            storage.delete(name)
        raise
    logger.info("demo disputes seeded: %d", len(plans), extra={"disputes": len(plans)})


def _write(rng: random.Random, plans: list[_Plan], now: datetime, storage, stored: list[str],
           people: dict[str, Any]) -> None:
    buffer = timedelta(hours=settings.DISPUTE_DEADLINE_BUFFER_HOURS)
    disputes = []
    for index, plan in enumerate(plans, start=1):
        payment = plan.payment
        partial = max(1, int(payment.amount_minor * rng.uniform(0.3, 0.95)))
        amount = payment.amount_minor if rng.random() < 0.8 else partial
        disputes.append(Dispute(
            payment=payment, amount_minor=amount, currency=payment.currency, network=payment.network,
            reason_code=plan.code, psp=payment.psp,
            psp_dispute_id=f"{DEMO_PREFIX}{index:05d}_{rng.randrange(16**8):08x}",
            stage=plan.stage, state=plan.state, assignee=plan.assignee, due_at=plan.due_at,
            internal_due_at=plan.due_at - buffer, evidence_overridden=plan.override,
            submitted_at=plan.submitted_at, resolved_at=plan.resolved_at,
        ))
    Dispute.objects.bulk_create(disputes, batch_size=500)
    if any(d.pk is None for d in disputes):
        ids = dict(Dispute.objects.filter(psp_dispute_id__startswith=DEMO_PREFIX)
                   .values_list("psp_dispute_id", "pk"))
        for dispute in disputes:
            dispute.pk = dispute.id = ids[dispute.psp_dispute_id]
    for dispute, plan in zip(disputes, plans, strict=True):
        dispute.reference = Dispute.format_reference(dispute.pk)
        dispute.created_at = plan.created_at
    Dispute.objects.bulk_update(disputes, ["reference", "created_at"], batch_size=500)

    for dispute, plan in zip(disputes, plans, strict=True):
        _history(rng, dispute, plan, now, storage, stored, people)


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


def _history(rng: random.Random, dispute: Dispute, plan: _Plan, now: datetime, storage, stored: list[str],
             people: dict[str, Any]) -> None:
    reference = dispute.reference
    starts_as_inquiry = plan.stage == ST.INQUIRY or (plan.history and plan.history[0][0] == "open_chargeback")
    first_state = S.INQUIRY if starts_as_inquiry else S.NEEDS_RESPONSE
    creator = _reporter(plan.payment) if rng.random() < 0.85 else rng.choice(people["specialists"])

    def record(transition: str, source: str, target: str, actor: Any, reason: str = "", **context) -> None:
        journal_record(case_type=Dispute.CASE_TYPE, case_id=dispute.pk, case_reference=reference,
                       transition=transition, source=source, target=target, actor=actor, reason=reason,
                       context={"demo": True, **context})

    record("create", "", first_state, creator, "manual entry" if not getattr(creator, "is_system", False) else "",
           payment_id=plan.payment.pk, amount_minor=dispute.amount_minor, currency=dispute.currency,
           network=dispute.network, reason_code=plan.code.code, psp=dispute.psp,
           psp_dispute_id=dispute.psp_dispute_id, stage=ST.INQUIRY if starts_as_inquiry else ST.CHARGEBACK)
    # Evidence is added while the dispute waits for a response, before the transitions that follow.
    state = first_state
    stage = ST.INQUIRY if starts_as_inquiry else ST.CHARGEBACK
    for number, kind in enumerate(plan.evidence_kinds):
        data, mime, original = b"", "", ""
        if kind == "usage_logs" and rng.random() < 0.5:
            data, mime, original = _usage_csv(rng, plan.payment.invoice.issued_at), "text/csv", "usage-export.csv"
        elif kind in ("usage_logs", "proof_of_delivery") and rng.random() < 0.3:
            data, mime, original = _png(rng), "image/png", "usage-dashboard.png"
        file_name = sha = ""
        if data:
            file_name = storage.save(evidence_upload_to(None, original), ContentFile(data))
            stored.append(file_name)
            sha = hashlib.sha256(data).hexdigest()
        item = EvidenceItem.objects.create(
            dispute=dispute, kind=kind, text=_evidence_text(rng, kind, plan), file=file_name, sha256=sha,
            mime_type=mime, size=len(data), original_name=original, stage=stage,
            added_by=plan.assignee or rng.choice(people["specialists"]),
            created_at=min(now, plan.created_at + timedelta(hours=4 + 6 * number)),
        )
        record("add_evidence", state, state, item.added_by, "", evidence_id=item.pk, kind=kind, sha256=sha,
               mime_type=mime, size=len(data))
    for transition, source, target, actor, reason in plan.history:
        context: dict[str, Any] = {}
        if transition == "submit_evidence":
            context = {"evidence_override": plan.override and stage == plan.stage,
                       "evidence_kinds": sorted(set(plan.evidence_kinds)), "packet_sha256": ""}
        elif transition in ("reopen", "open_chargeback"):
            stage = ST.CHARGEBACK if transition == "open_chargeback" else STAGE_ORDER[STAGE_ORDER.index(stage) + 1]
            context = {"stage": stage}
        record(transition, source, target, actor, reason, **context)
        state = target
