"""Webhook metrics for /metrics (see ``backoffice.insight.registry``)."""

from __future__ import annotations

from django.db.models import Count

from backoffice.insight.registry import business_metric


@business_metric("backoffice_webhook_deliveries", "Webhook deliveries received, per PSP and verdict.",
                 kind="counter", labels=("psp", "verdict"))
def webhook_deliveries():
    from .models import WebhookDelivery

    rows = WebhookDelivery.objects.order_by().values_list("psp", "verdict").annotate(n=Count("id"))
    return [((psp, verdict), n) for psp, verdict, n in rows]


@business_metric("backoffice_webhook_events", "Webhook events stored, per PSP and processing status.",
                 labels=("psp", "status"))
def webhook_events():
    from .models import WebhookEvent

    rows = WebhookEvent.objects.order_by().values_list("psp", "status").annotate(n=Count("id"))
    return [((psp, status), n) for psp, status, n in rows]
