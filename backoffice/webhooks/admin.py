"""Read-only admin for what the PSPs sent: deliveries are evidence, never edited (the inbox acts on them)."""

from django.contrib import admin

from backoffice.admin_mixins import ReadOnlyAdmin

from .models import WebhookDelivery, WebhookEvent, WebhookObjectCursor


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "psp", "received_at", "verdict", "verdict_detail", "replay_of"]
    list_filter = ["psp", "verdict"]
    exclude = ["raw_body"]
    readonly_fields = ["body"]

    @admin.display(description="Body (as received)")
    def body(self, obj):
        return obj.body_text


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "psp", "event_type", "event_id", "status", "case_reference", "created_at"]
    list_filter = ["psp", "status", "event_type"]
    search_fields = ["=event_id", "=object_id", "=payment_reference", "=case_reference"]


@admin.register(WebhookObjectCursor)
class WebhookObjectCursorAdmin(ReadOnlyAdmin):
    list_display = ["psp", "object_id", "last_occurred_at", "last_event_id"]
    search_fields = ["=object_id"]
