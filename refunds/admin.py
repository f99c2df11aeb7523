"""Admin for refunds: read-only rows; decisions only as admin actions that call the services.

Each action asks for a reason on an intermediate page, then calls ``refund_approve`` /
``refund_reject`` / ``refund_cancel`` / ``refund_retry`` for each selected refund, so the admin
obeys the same rules as the pages and the API (a superuser cannot approve their own request).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest
from django.template.response import TemplateResponse

from backoffice.errors import DomainError
from backoffice.web.templatetags.ui import money_text

from .models import Refund, RefundApproval
from .services import refund_approve, refund_cancel, refund_reject, refund_retry

ADMIN_ACTIONS = {
    "approve": (refund_approve, "Approve"),
    "reject": (refund_reject, "Reject"),
    "cancel": (refund_cancel, "Cancel"),
    "retry": (refund_retry, "Retry"),
}


class RefundApprovalInline(admin.TabularInline):
    model = RefundApproval
    extra = 0
    can_delete = False
    fields = ["step", "decision", "approver", "reason", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
    list_display = ["reference", "state", "amount", "currency", "reason", "requester", "payment", "assignee",
                    "created_at"]
    list_filter = ["state", "reason", "currency"]
    search_fields = ["=reference", "=psp_refund_id", "=payment__psp_reference"]
    list_select_related = ["requester", "assignee", "payment"]
    show_full_result_count = False
    list_per_page = 50
    ordering = ["-created_at", "-id"]
    inlines = [RefundApprovalInline]
    actions = ["approve_selected", "reject_selected", "cancel_selected", "retry_selected"]
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # refunds are requested from a payment (page or API), never typed in here

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # rows change only through the actions below (the services)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def _run(self, request: HttpRequest, queryset, name: str):
        service, label = ADMIN_ACTIONS[name]
        if request.POST.get("confirm") != "yes":
            return TemplateResponse(request, "admin/refunds/refund/transition.html", {
                **self.admin_site.each_context(request),
                "title": f"{label} refunds",
                "label": label,
                "action_name": f"{name}_selected",
                "refunds": list(queryset.order_by("id")),
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "reason_required": name in ("approve", "reject", "retry"),
            })
        reason = (request.POST.get("reason") or "").strip()
        done = 0
        for refund in queryset.order_by("id"):
            try:
                service(refund=refund, actor=request.user, reason=reason)
                done += 1
            except DomainError as err:
                self.message_user(request, f"{refund.reference}: {err.message} ({err.code})", messages.ERROR)
        if done:
            self.message_user(request, f"{label}: {done} refund(s) done.", messages.SUCCESS)
        return None

    @admin.action(description="Approve selected refunds (asks for a reason)")
    def approve_selected(self, request, queryset):
        return self._run(request, queryset, "approve")

    @admin.action(description="Reject selected refunds (asks for a reason)")
    def reject_selected(self, request, queryset):
        return self._run(request, queryset, "reject")

    @admin.action(description="Cancel selected refunds")
    def cancel_selected(self, request, queryset):
        return self._run(request, queryset, "cancel")

    @admin.action(description="Retry selected failed refunds (asks for a reason)")
    def retry_selected(self, request, queryset):
        return self._run(request, queryset, "retry")


@admin.register(RefundApproval)
class RefundApprovalAdmin(admin.ModelAdmin):
    list_display = ["refund", "step", "decision", "approver", "created_at"]
    list_filter = ["decision", "step"]
    list_select_related = ["refund", "approver"]
    search_fields = ["=refund__reference"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
