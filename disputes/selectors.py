"""Reads of disputes: every queryset a page, the API, the admin or a task needs, scoped by role and
with what the list shows joined in (a fixed number of queries per page, no N+1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Prefetch, QuerySet

from backoffice.errors import NotFound
from backoffice.filtering import apply_filterset
from backoffice.roles.predicates import can_read
from invoices.models import InvoiceLine, Payment

from .filters import DisputeFilter
from .models import GENERIC_NETWORK, Dispute, EvidenceChecklist, EvidenceItem, ReasonCode

LIST_RELATED = ("reason_code", "assignee", "payment__customer", "payment__invoice")


def _evidence_kinds_prefetch() -> Prefetch:
    return Prefetch("evidence", queryset=EvidenceItem.objects.only("id", "dispute_id", "kind").order_by())


def dispute_list(*, user: Any, filters: Mapping[str, Any] | None = None, with_evidence: bool = False,
                 request: Any = None) -> QuerySet[Dispute]:
    """Disputes this user may read (every role reads all; no role, nothing), ordered by internal due date."""
    if not can_read(user):
        return Dispute.objects.none()
    qs = Dispute.objects.select_related(*LIST_RELATED).order_by("internal_due_at", "id")
    if with_evidence:
        qs = qs.prefetch_related(_evidence_kinds_prefetch())
    qs = apply_filterset(DisputeFilter, qs, filters, request=request)
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
    """A payment by id (digits) or by the PSP's charge reference."""
    reference = (reference or "").strip()
    if not reference:
        return None
    qs = Payment.objects.select_related("invoice", "customer")
    if reference.isdigit():
        found = qs.filter(pk=int(reference)).first()
        if found is not None:
            return found
    return qs.filter(psp_reference=reference).order_by("id").first()


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
