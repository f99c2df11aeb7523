"""Reads of breaks and settlement imports: for the queue, the API, the pages, the dashboard and /metrics."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, Exists, OuterRef, QuerySet, Sum
from django.utils import timezone

from backoffice.errors import NotFound
from backoffice.roles.predicates import can_read, is_worker, user_roles

from .filters import AGE_BUCKETS, age_bucket_q
from .models import (
    OPEN_STATES,
    Break,
    BreakState,
    SettlementImport,
    SettlementLine,
    SettlementUpload,
    WriteOffDecision,
    WriteOffLimit,
)

LIST_RELATED = ("assignee", "requester", "settlement_import", "payment")


def break_list(*, user: Any) -> QuerySet[Break]:
    """Breaks this user may read (every role reads all; no role, nothing), newest first."""
    if not can_read(user):
        return Break.objects.none()
    qs = Break.objects.select_related(*LIST_RELATED).order_by("-created_at", "-id")
    return qs


def break_get(*, user: Any, break_id: int) -> Break:
    brk = break_list(user=user).filter(pk=break_id).first()
    if brk is None:
        raise NotFound(f"Break {break_id} does not exist.")
    return brk


def break_decisions(*, brk: Break) -> list[WriteOffDecision]:
    return list(WriteOffDecision.objects.filter(brk=brk).select_related("approver").order_by("created_at"))


def breaks_awaiting_write_off_decision_by(queryset: QuerySet[Break], user: Any) -> QuerySet[Break]:
    """The approvals queue: write-offs ``user`` could decide now (not their own, within their limit).

    Mirrors ``reconciliation.policy.write_off_refusal`` as one lazy query (building the queue's
    queryset costs no query of its own)."""
    roles = user_roles(user)
    if not is_worker(user) or not roles:
        return queryset.none()
    within = WriteOffLimit.objects.filter(role__in=roles, currency=OuterRef("currency"),
                                          limit_minor__gte=OuterRef("amount_minor"))
    return (queryset.filter(Exists(within), state=BreakState.WRITE_OFF_REQUESTED)
            .exclude(requester_id=user.pk))


def settlement_import_list(*, user: Any) -> QuerySet[SettlementImport]:
    if not can_read(user):
        return SettlementImport.objects.none()
    return SettlementImport.objects.select_related("imported_by").order_by("-created_at", "-id")


def settlement_upload_list(*, user: Any) -> QuerySet[SettlementUpload]:
    if not can_read(user):
        return SettlementUpload.objects.none()
    return SettlementUpload.objects.select_related("uploaded_by").order_by("-created_at", "-id")


def settlement_import_get(*, user: Any, import_id: int) -> SettlementImport:
    job = settlement_import_list(user=user).filter(pk=import_id).first()
    if job is None:
        raise NotFound(f"Settlement import {import_id} does not exist.")
    return job


def settlement_lines_with_breaks(*, job: SettlementImport, limit: int = 200) -> list[SettlementLine]:
    return list(SettlementLine.objects.filter(settlement_import=job, match="break").order_by("row")[:limit])


def open_breaks_by_age(*, now=None) -> list[dict[str, Any]]:
    """Open breaks per currency and age bucket: ``[{"currency", "buckets": [{"label", "count", "amount"}]}]``."""
    now = now or timezone.now()
    aggregates: dict[str, Any] = {}
    for key, _label, *_ in AGE_BUCKETS:
        cond = age_bucket_q(key, now=now)
        aggregates[f"n_{key}"] = Count("id", filter=cond)
        aggregates[f"a_{key}"] = Sum("amount_minor", filter=cond)
    rows = (Break.objects.filter(state__in=OPEN_STATES).order_by().values("currency").annotate(**aggregates)
            .order_by("currency"))
    return [{"currency": row["currency"],
             "buckets": [{"key": key, "label": label, "count": row[f"n_{key}"], "amount": row[f"a_{key}"] or 0}
                         for key, label, *_ in AGE_BUCKETS]} for row in rows]


def import_match_rates(*, limit: int = 20) -> list[SettlementImport]:
    """The latest imports with their match rate (matched ÷ charge, refund and dispute lines)."""
    return list(SettlementImport.objects.order_by("-created_at", "-id")[:limit])


def lines_settling(*, payment_id: int) -> QuerySet[SettlementLine]:
    return SettlementLine.objects.filter(payment_id=payment_id).select_related("settlement_import").order_by("pk")


def breaks_due_for_reminder(*, now=None, thresholds: tuple[int, ...], after_id: int = 0, limit: int = 500
                            ) -> list[Break]:
    """Open breaks at least the smallest threshold old, by id; each carries ``reminder_age`` (the largest
    threshold it has passed). Alerts are claimed once per (break, threshold)."""
    now = now or timezone.now()
    if not thresholds:
        return []
    smallest = min(thresholds)
    rows = list(Break.objects.filter(state__in=OPEN_STATES, pk__gt=after_id,
                                     created_at__lte=now - timedelta(days=smallest))
                .select_related("assignee").order_by("pk")[:limit])
    for brk in rows:
        age = (now - brk.created_at).days
        brk.reminder_age = max(t for t in thresholds if t <= age)
    return rows


def payment_has_settlement(*, payment_id: int) -> bool:
    return SettlementLine.objects.filter(payment_id=payment_id).exists()


