"""Approval limits are edited by superusers only, and every change goes through the journaled service."""

from django.contrib import admin, messages

from backoffice.errors import DomainError

from .models import ApprovalLimit, DualApprovalThreshold
from .services import approval_limit_set, dual_threshold_set


class SuperuserOnlyAdmin(admin.ModelAdmin):
    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApprovalLimit)
class ApprovalLimitAdmin(SuperuserOnlyAdmin):
    list_display = ["role", "action", "currency", "limit", "updated_at"]
    list_filter = ["role", "action", "currency"]

    def save_model(self, request, obj, form, change):
        try:
            saved = approval_limit_set(actor=request.user, role=obj.role, action=obj.action, currency=obj.currency,
                                       limit=obj.limit)
            obj.pk = saved.pk
        except DomainError as err:
            messages.error(request, err.message)


@admin.register(DualApprovalThreshold)
class DualApprovalThresholdAdmin(SuperuserOnlyAdmin):
    list_display = ["currency", "threshold_minor", "updated_at"]

    def save_model(self, request, obj, form, change):
        try:
            saved = dual_threshold_set(actor=request.user, currency=obj.currency, threshold_minor=obj.threshold_minor)
            obj.pk = saved.pk
        except DomainError as err:
            messages.error(request, err.message)
