"""Refund metrics for /metrics (see ``backoffice.insight.registry``)."""

from __future__ import annotations

from django.db.models import Count

from backoffice.insight.registry import business_metric


@business_metric("backoffice_refunds_awaiting_approval", "Refunds waiting for a first or second approval.",
                 labels=("currency", "step"))
def refunds_awaiting_approval():
    from .models import Refund, RefundState

    step = {RefundState.PENDING_APPROVAL: "first", RefundState.PENDING_SECOND_APPROVAL: "second"}
    rows = (Refund.objects.filter(state__in=list(step)).order_by().values_list("currency", "state")
            .annotate(n=Count("id")).values_list("currency", "state", "n"))
    return [((currency, step[state]), n) for currency, state, n in rows]


@business_metric("backoffice_refunds_failed", "Refunds the PSP refused, waiting for a team lead, per "
                 "failure code.", labels=("failure_code",))
def refunds_failed():
    from .models import Refund, RefundState

    rows = (Refund.objects.filter(state=RefundState.FAILED).order_by().values_list("failure_code")
            .annotate(n=Count("id")).values_list("failure_code", "n"))
    return [((code or "unknown", ), n) for code, n in rows]
