"""Dispute metrics for /metrics (see ``backoffice.insight.registry``)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from backoffice.insight.registry import business_metric


@business_metric("backoffice_disputes_overdue", "Disputes needing a response past their internal due date.",
                 labels=("network",))
def disputes_overdue():
    from .models import Dispute, DisputeState

    rows = (Dispute.objects.filter(state=DisputeState.NEEDS_RESPONSE, internal_due_at__lt=timezone.now())
            .order_by().values_list("network").annotate(n=Count("id")).values_list("network", "n"))
    return [((network, ), n) for network, n in rows]


@business_metric("backoffice_disputes_due_72h", "Disputes needing a response whose internal due date is "
                 "within the next 72 hours.")
def disputes_due_soon():
    from .models import Dispute, DisputeState

    now = timezone.now()
    return [((), Dispute.objects.filter(state=DisputeState.NEEDS_RESPONSE, internal_due_at__gte=now,
                                        internal_due_at__lt=now + timedelta(hours=72)).count())]
