"""Reads of disputes: every queryset a page, the API, the admin or a task needs, scoped by role and
with what the list shows joined in (a fixed number of queries per page, no N+1)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Case, Exists, F, IntegerField, OuterRef, Prefetch, Q, QuerySet, Value, When

from backoffice.errors import NotFound
from backoffice.notifications.models import CaseAlert
from backoffice.roles.predicates import can_read
from invoices import ledger
from invoices.models import InvoiceLine, Payment

from .models import GENERIC_NETWORK, Dispute, EvidenceChecklist, EvidenceItem, ReasonCode

LIST_RELATED = ("reason_code", "assignee", "payment__customer", "payment__invoice")


def _evidence_kinds_prefetch() -> Prefetch:
    return Prefetch("evidence", queryset=EvidenceItem.objects.only("id", "dispute_id", "kind").order_by())


def dispute_list(*, user: Any, with_evidence: bool = False) -> QuerySet[Dispute]:
    """Disputes this user may read (every role reads all; no role, nothing), ordered by internal due date."""
    if not can_read(user):
        return Dispute.objects.none()
    qs = Dispute.objects.select_related(*LIST_RELATED).order_by("internal_due_at", "id")
    if with_evidence:
        qs = qs.prefetch_related(_evidence_kinds_prefetch())
    return qs


def dispute_get(*, user: Any, dispute_id: int) -> Dispute:
    dispute = dispute_list(user=user, with_evidence=True).filter(pk=dispute_id).first()
    if dispute is None:
        raise NotFound(f"Dispute {dispute_id} does not exist.")
    return dispute


def dispute_evidence(*, dispute: Dispute) -> QuerySet[EvidenceItem]:
    return EvidenceItem.objects.filter(dispute=dispute).select_related("added_by").order_by("created_at", "id")


def dispute_checklist(*, dispute: Dispute) -> EvidenceChecklist:
    """The reason code's checklist against the evidence present (uses prefetched evidence when there)."""
    cache = getattr(dispute, "_prefetched_objects_cache", {})
    if "evidence" in cache:
        kinds = {item.kind for item in cache["evidence"]}
    else:
        kinds = set(EvidenceItem.objects.filter(dispute_id=dispute.pk).values_list("kind", flat=True).distinct())
    return dispute.reason_code.checklist(kinds)


def invoice_lines(*, invoice_id: int) -> QuerySet[InvoiceLine]:
    return InvoiceLine.objects.filter(invoice_id=invoice_id).order_by("id")


def reason_code_find(*, network: str, code: str) -> ReasonCode | None:
    code = (code or "").strip()
    found = ReasonCode.objects.filter(network=network, code__iexact=code).first()
    if found is None and network != GENERIC_NETWORK:
        found = ReasonCode.objects.filter(network=GENERIC_NETWORK, code__iexact=code).first()
    return found


def payment_find(*, reference: str) -> Payment | None:
    """A payment by id or by the PSP's charge reference (``invoices.ledger.payment_find``; any worker may
    enter a dispute on any payment)."""
    return ledger.payment_find(reference=reference)


# ---------------------------------------------------------------- deadline scans (periodic tasks)
# Each selects only what is due, with an indexed range on (state, internal_due_at) or (state, due_at)
# and an anti-join on the alert claims (the case_alert_once unique index), in one query per batch.

REMINDER_STATES = ("inquiry", "needs_response")


def _reminder_offset(*, now: datetime, offsets_days: Sequence[int]) -> tuple[Case, list[int]]:
    """The reminder window each internal due date is in at ``now``, as SQL (see
    ``backoffice.notifications.deadlines.reminder_window``): offset o's window holds due dates in
    (now + next smaller offset, now + o]."""
    offsets = sorted({int(o) for o in offsets_days if int(o) > 0}, reverse=True)
    whens = []
    for i, offset in enumerate(offsets):
        lower = now + timedelta(days=offsets[i + 1]) if i + 1 < len(offsets) else now
        whens.append(When(internal_due_at__gt=lower, internal_due_at__lte=now + timedelta(days=offset),
                          then=Value(offset)))
    return Case(*whens, default=None, output_field=IntegerField()), offsets


def disputes_due_for_reminder(*, now: datetime, offsets_days: Sequence[int], after_id: int = 0,
                              limit: int) -> list[Dispute]:
    """Open disputes whose internal due date is inside a reminder window at ``now`` and whose reminder
    for that window (this due date, this offset) has not been claimed; ``reminder_offset`` annotated,
    the assignee's address joined in. Ordered by id, after ``after_id`` (keyset)."""
    offset, offsets = _reminder_offset(now=now, offsets_days=offsets_days)
    if not offsets:
        return []
    claimed = CaseAlert.objects.filter(case_type=Dispute.CASE_TYPE, case_id=OuterRef("pk"),
                                       due_at=OuterRef("internal_due_at"), kind="reminder",
                                       offset_days=OuterRef("reminder_offset"))
    return list(
        Dispute.objects.filter(state__in=REMINDER_STATES, internal_due_at__gt=now,
                               internal_due_at__lte=now + timedelta(days=offsets[0]), pk__gt=after_id)
        .annotate(reminder_offset=offset)
        .filter(~Exists(claimed))
        .select_related("assignee")
        .only("pk", "reference", "internal_due_at", "assignee__id", "assignee__email", "assignee__username")
        .order_by("pk")[:limit]
    )


def disputes_due_for_escalation(*, now: datetime) -> QuerySet[Dispute]:
    """Disputes still needing a response after their internal due date, not escalated since that date
    was set, whose escalation for this due date has not been claimed."""
    claimed = CaseAlert.objects.filter(case_type=Dispute.CASE_TYPE, case_id=OuterRef("pk"),
                                       due_at=OuterRef("internal_due_at"), kind="escalation", offset_days=0)
    return (
        Dispute.objects.filter(state="needs_response", internal_due_at__lt=now)
        .filter(Q(escalated_at__isnull=True) | Q(escalated_at__lt=F("internal_due_at")))
        .filter(~Exists(claimed))
        .order_by("internal_due_at", "pk")
    )


def disputes_past_due(*, now: datetime, after: tuple[datetime, int] | None = None, limit: int) -> list[tuple[int, Any]]:
    """``(id, due_at)`` of disputes still needing a response after their network deadline, oldest
    deadline first, after ``after`` (keyset on due date and id)."""
    qs = Dispute.objects.filter(state="needs_response", due_at__lt=now)
    if after is not None:
        qs = qs.filter(Q(due_at__gt=after[0]) | Q(due_at=after[0], pk__gt=after[1]))
    return list(qs.order_by("due_at", "pk").values_list("pk", "due_at")[:limit])


def dispute_open_proposal(*, dispute: Dispute) -> Any:
    """The open proposal to accept liability for ``dispute`` (with who proposed it), or None."""
    from .models import AcceptanceProposal

    return (AcceptanceProposal.objects.filter(dispute_id=dispute.pk, decision=AcceptanceProposal.Decision.OPEN)
            .select_related("proposed_by").first())


def dispute_has_own_letter(*, dispute: Dispute) -> bool:
    from .models import CoverLetter

    return CoverLetter.objects.filter(dispute_id=dispute.pk).exists()


def dispute_cover_letter_text(*, dispute: Dispute) -> str:
    """The cover letter's body as the specialist edits it (their own, else the template, else the built-in one)."""
    from .packet import letter_text, packet_snapshot_for_letter

    return letter_text(packet_snapshot_for_letter(dispute_id=dispute.pk))
