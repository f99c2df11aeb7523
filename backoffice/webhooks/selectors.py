"""Reads for the webhook inbox."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import EventStatus, WebhookDelivery, WebhookEvent

NEEDS_A_PERSON = (EventStatus.UNMATCHED, EventStatus.FAILED)


def delivery_list(*, psp: str = "", verdict: str = "") -> QuerySet[WebhookDelivery]:
    """Newest first; the raw body is deferred (the list shows the outcome, the detail page the body)."""
    qs = WebhookDelivery.objects.defer("raw_body", "headers").select_related("replay_of")
    if psp:
        qs = qs.filter(psp=psp)
    if verdict:
        qs = qs.filter(verdict=verdict)
    return qs.order_by("-received_at", "-id")


def delivery_get(*, delivery_id: int) -> WebhookDelivery | None:
    return WebhookDelivery.objects.filter(pk=delivery_id).first()


def events_needing_a_person() -> QuerySet[WebhookEvent]:
    return (WebhookEvent.objects.filter(status__in=NEEDS_A_PERSON).select_related("delivery", "payment")
            .order_by("-created_at", "-id"))


def delivery_events(*, delivery: WebhookDelivery) -> list[WebhookEvent]:
    ids = [o.get("webhook_event") for o in delivery.outcomes or [] if o.get("webhook_event")]
    return list(WebhookEvent.objects.filter(pk__in=ids).order_by("pk"))
