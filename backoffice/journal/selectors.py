"""Reads of the journal: a case's history, the audit search and the last verification result."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from .models import JournalCheckpoint, JournalEntry, JournalVerification
from .verification import BrokenChain, journal_verify

__all__ = ["BrokenChain", "journal_for_case", "journal_last_verification", "journal_latest_checkpoint",
           "journal_search", "journal_verify"]


def journal_for_case(*, case_type: str, case_id: int) -> QuerySet[JournalEntry]:
    return JournalEntry.objects.filter(case_type=case_type, case_id=case_id).order_by("seq")


def journal_search(
    *,
    case_type: str | None = None,
    actor: str | None = None,
    since: Any = None,
    until: Any = None,
    q: str | None = None,
) -> QuerySet[JournalEntry]:
    qs = JournalEntry.objects.all()
    if case_type:
        qs = qs.filter(case_type=case_type)
    if actor:
        qs = qs.filter(actor_label=actor)
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    if q:
        qs = qs.filter(case_reference=q.strip().upper()) if "-" in q else qs.filter(transition=q.strip())
    return qs.order_by("-created_at", "-id")


def journal_last_verification() -> JournalVerification | None:
    """The latest verification run (the audit page and ``GET /api/v1/audit/verify/`` show it)."""
    return JournalVerification.objects.order_by("-finished_at", "-id").first()


def journal_latest_checkpoint() -> JournalCheckpoint | None:
    return JournalCheckpoint.objects.order_by("-seq").first()
