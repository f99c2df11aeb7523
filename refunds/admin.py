"""Admin for refunds: read-only rows; decisions only as admin actions that call the services.

Each action asks for a reason on an intermediate page, then calls the refund dispatcher
(``refund_approve`` / ``refund_reject`` / ``refund_cancel`` / ``refund_retry``) for each selected
refund, so the admin obeys the same rules as the pages and the API (a superuser cannot approve
their own request). See ``backoffice.admin_mixins``.
"""

from __future__ import annotations

from django.contrib import admin

from backoffice.admin_mixins import ReadOnlyAdmin, ReadOnlyAdminMixin, transition_action
from backoffice.web.templatetags.ui import money_text

from .models import Refund, RefundApproval


class RefundApprovalInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = RefundApproval
    extra = 0
    can_delete = False
    fields = ["step", "decision", "approver", "reason", "created_at"]
    readonly_fields = fields


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ["reference", "state", "amount", "currency", "reason", "requester", "payment", "assignee",
                    "created_at"]
    list_filter = ["state", "reason", "currency"]
    search_fields = ["=reference", "=psp_refund_id", "=payment__psp_reference"]
    list_select_related = ["requester", "assignee", "payment"]
    list_per_page = 50
    ordering = ["-created_at", "-id"]
    inlines = [RefundApprovalInline]
    actions = [
        transition_action("approve", "Approve"),
        transition_action("reject", "Reject"),
        transition_action("cancel", "Cancel", reason_required=False),
        transition_action("retry", "Retry"),
    ]
    readonly_fields = [
        "reference", "state", "payment", "amount", "currency", "reason", "note", "requester", "assignee",
        "idempotency_key", "psp_refund_id", "psp_attempt", "failure_code", "failure_message", "due_at",
        "internal_due_at", "approved_at", "decided_at", "submitted_at", "last_psp_attempt_at", "succeeded_at",
        "failed_at", "created_at", "updated_at",
    ]
    fields = readonly_fields

    @admin.display(description="Amount", ordering="amount_minor")
    def amount(self, obj: Refund) -> str:
        return money_text(obj.amount_minor, obj.currency)


@admin.register(RefundApproval)
class RefundApprovalAdmin(ReadOnlyAdmin):
    list_display = ["refund", "step", "decision", "approver", "created_at"]
    list_filter = ["decision", "step"]
    list_select_related = ["refund", "approver"]
    search_fields = ["=refund__reference"]
    show_full_result_count = False
