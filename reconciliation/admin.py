"""Admin for reconciliation: read-only rows; break transitions only as admin actions that call the services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest

from backoffice.admin_mixins import ReadOnlyAdmin
from backoffice.errors import DomainError
from backoffice.web.templatetags.ui import money_text

from .models import Break, SettlementImport, SettlementLine, SettlementUpload, WriteOffDecision, WriteOffLimit
from .services import break_approve_write_off, break_investigate, break_reject_write_off


class ReadOnly(ReadOnlyAdmin):
    list_per_page = 50


@admin.register(Break)
class BreakAdmin(ReadOnly):
    list_display = ["reference", "state", "kind", "psp", "psp_reference", "amount", "currency", "assignee",
                    "created_at"]
    list_filter = ["state", "kind", "psp", "currency"]
    search_fields = ["=reference", "=psp_reference"]
    list_select_related = ["assignee"]
    ordering = ["-created_at", "-id"]
    actions = ["investigate_selected", "approve_write_off_selected", "reject_write_off_selected"]

    @admin.display(description="Amount", ordering="amount_minor")
    def amount(self, obj: Break) -> str:
        return money_text(obj.amount_minor, obj.currency)

    def _run(self, request: HttpRequest, queryset, service, label: str, reason: str) -> None:
        done = 0
        for brk in queryset.order_by("id"):
            try:
                service(brk=brk, actor=request.user, reason=reason)
                done += 1
            except DomainError as err:
                self.message_user(request, f"{brk.reference}: {err.message} ({err.code})", messages.ERROR)
        if done:
            self.message_user(request, f"{label}: {done} break(s) done.", messages.SUCCESS)

    @admin.action(description="Start investigating selected breaks")
    def investigate_selected(self, request, queryset):
        self._run(request, queryset, break_investigate, "Investigate", "From the admin")

    @admin.action(description="Approve the write-off of selected breaks (within your limit, not your own)")
    def approve_write_off_selected(self, request, queryset):
        self._run(request, queryset, break_approve_write_off, "Approve write-off", "Approved in the admin")

    @admin.action(description="Reject the write-off of selected breaks")
    def reject_write_off_selected(self, request, queryset):
        self._run(request, queryset, break_reject_write_off, "Reject write-off", "Rejected in the admin")


@admin.register(SettlementImport)
class SettlementImportAdmin(ReadOnly):
    list_display = ["id", "psp", "file_name", "batch_id", "line_count", "matched_count", "break_count", "created_at"]
    list_filter = ["psp", "source"]
    search_fields = ["=batch_id", "=sha256", "file_name"]
    ordering = ["-created_at", "-id"]


@admin.register(SettlementUpload)
class SettlementUploadAdmin(ReadOnly):
    list_display = ["id", "psp", "file_name", "status", "error_code", "uploaded_by", "created_at"]
    list_filter = ["psp", "status"]
    ordering = ["-created_at", "-id"]


@admin.register(SettlementLine)
class SettlementLineAdmin(ReadOnly):
    list_display = ["settlement_import", "row", "kind", "psp_reference", "payment_reference", "gross_minor",
                    "currency", "match"]
    list_filter = ["psp", "kind", "match"]
    search_fields = ["=psp_reference", "=payment_reference", "=transaction_id"]
    ordering = ["-settlement_import_id", "row"]


@admin.register(WriteOffDecision)
class WriteOffDecisionAdmin(ReadOnly):
    list_display = ["brk", "approved", "approver", "created_at"]


@admin.register(WriteOffLimit)
class WriteOffLimitAdmin(admin.ModelAdmin):
    """Write-off limits per role and currency (superusers change them; the rows are the policy's input)."""

    list_display = ["role", "currency", "limit_minor", "updated_at"]
    list_filter = ["role", "currency"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return bool(request.user.is_superuser)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return bool(request.user.is_superuser)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return bool(request.user.is_superuser)
