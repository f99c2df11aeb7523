"""A case's whole history for auditors: journal, comments, evidence, approvals, attachments and any
section another app adds (PSP events) with ``history_section``. Shown as a page and as a PDF."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType

from backoffice.cases.models import Attachment, Comment
from backoffice.cases.registry import case_types
from backoffice.journal.selectors import journal_for_case


@dataclass(frozen=True)
class HistoryRow:
    at: datetime | None
    who: str
    what: str
    detail: str = ""


@dataclass
class HistorySection:
    title: str
    rows: list[HistoryRow] = field(default_factory=list)


SectionBuilder = Callable[[Any], HistorySection | None]
_SECTIONS: list[SectionBuilder] = []


def history_section(fn: SectionBuilder) -> SectionBuilder:
    """Register a builder ``(case) -> HistorySection | None``: e.g. the PSP events of a case."""
    _SECTIONS.append(fn)
    return fn


def spec_for_case_type(case_type: str):
    return next((spec for spec in case_types() if spec.model.CASE_TYPE == case_type), None)


@dataclass
class CaseHistory:
    case: Any
    case_type: str
    journal: list[Any]
    sections: list[HistorySection]


def case_history(*, case: Any) -> CaseHistory:
    case_type = case.CASE_TYPE
    journal = list(journal_for_case(case_type=case_type, case_id=case.pk))
    ct = ContentType.objects.get_for_model(case)
    sections: list[HistorySection] = []
    comments = HistorySection("Comments", [
        HistoryRow(c.created_at, c.author.get_username(), "comment", c.body)
        for c in Comment.objects.filter(content_type=ct, object_id=case.pk).select_related("author")
        .order_by("created_at", "id")])
    sections.append(comments)
    evidence = getattr(case, "evidence", None)
    if evidence is not None:
        sections.append(HistorySection("Evidence", [
            HistoryRow(e.created_at, e.added_by.get_username(), e.get_kind_display(),
                       " · ".join(p for p in (e.text[:2000], e.original_name,
                                              f"sha256 {e.sha256}" if e.sha256 else "") if p))
            for e in evidence.select_related("added_by").order_by("created_at", "id")]))
    approvals = getattr(case, "approvals", None)
    if approvals is not None:
        sections.append(HistorySection("Approvals", [
            HistoryRow(a.created_at, a.approver.get_username(), f"{a.get_decision_display()} (step {a.step})",
                       a.reason)
            for a in approvals.select_related("approver").order_by("step")]))
    if getattr(case, "decided_by_id", None):
        sections.append(HistorySection("Decision", [
            HistoryRow(case.decided_at, case.decided_by.get_username(), case.get_state_display(),
                       getattr(case, "decision_reason", ""))]))
    sections.append(HistorySection("Attachments", [
        HistoryRow(a.created_at, a.uploaded_by.get_username(), a.original_name,
                   f"{a.mime_type}, {a.size} bytes, sha256 {a.sha256}")
        for a in Attachment.objects.filter(content_type=ct, object_id=case.pk).select_related("uploaded_by")
        .order_by("created_at", "id")]))
    for builder in _SECTIONS:
        section = builder(case)
        if section is not None:
            sections.append(section)
    return CaseHistory(case=case, case_type=case_type, journal=journal, sections=sections)
