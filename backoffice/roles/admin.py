"""Approval limits are edited by superusers only, and every change goes through the journaled service."""

from django import forms
from django.contrib import admin, messages

from backoffice.admin_money import MajorUnitsField, major_initial, money_display, to_minor
from backoffice.errors import DomainError
from backoffice.parsing import MAX_AMOUNT_MINOR, InvalidValue, parse_int

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


class ApprovalLimitForm(forms.ModelForm):
    """Refund limits in major units of their currency ("5000.00"), extension limits in days."""

    limit_value = MajorUnitsField(label="Limit", help_text="Refunds: an amount in the currency's own units, e.g. "
                                                           "5000.00. Extensions: a number of days.")

    class Meta:
        model = ApprovalLimit
        fields = ["role", "action", "currency"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["limit_value"].initial = (major_initial(self.instance.limit, self.instance.currency)
                                                  if self.instance.currency else str(self.instance.limit))

    def clean(self):
        cleaned = super().clean()
        currency = (cleaned.get("currency") or "").strip().upper()
        cleaned["currency"] = currency
        if currency:
            limit = to_minor(self, field="limit_value", currency=currency, positive=False)
        else:
            raw = (cleaned.get("limit_value") or "").strip()
            try:
                limit = parse_int(raw, min_value=0, max_value=MAX_AMOUNT_MINOR)
            except InvalidValue:
                limit = None
            if limit is None:
                self.add_error("limit_value", "A number of days, e.g. 14.")
        if limit is not None:
            self.instance.limit = limit
        return cleaned


def _limit_display(modeladmin, obj) -> str:
    if obj.currency:
        return money_display("limit", description="Limit")(modeladmin, obj)
    return f"{obj.limit} days"


_limit_display.short_description = "Limit"  # type: ignore[attr-defined]
_limit_display.admin_order_field = "limit"  # type: ignore[attr-defined]


@admin.register(ApprovalLimit)
class ApprovalLimitAdmin(SuperuserOnlyAdmin):
    form = ApprovalLimitForm
    list_display = ["role", "action", "currency", "limit_shown", "updated_at"]
    list_filter = ["role", "action", "currency"]
    limit_shown = _limit_display

    def save_model(self, request, obj, form, change):
        try:
            saved = approval_limit_set(actor=request.user, role=obj.role, action=obj.action, currency=obj.currency,
                                       limit=obj.limit)
            obj.pk = saved.pk
        except DomainError as err:
            messages.error(request, err.message)


class DualApprovalThresholdForm(forms.ModelForm):
    threshold = MajorUnitsField(label="Threshold", help_text="From this amount (in the currency's own units, e.g. "
                                                             "1000.00) a refund needs two approvers.")

    class Meta:
        model = DualApprovalThreshold
        fields = ["currency"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["threshold"].initial = major_initial(self.instance.threshold_minor, self.instance.currency)

    def clean(self):
        cleaned = super().clean()
        currency = (cleaned.get("currency") or "").strip().upper()
        cleaned["currency"] = currency
        if currency:
            minor = to_minor(self, field="threshold", currency=currency)
            if minor is not None:
                self.instance.threshold_minor = minor
        return cleaned


@admin.register(DualApprovalThreshold)
class DualApprovalThresholdAdmin(SuperuserOnlyAdmin):
    form = DualApprovalThresholdForm
    list_display = ["currency", "threshold_shown", "updated_at"]
    threshold_shown = money_display("threshold_minor", description="Two approvers from")

    def save_model(self, request, obj, form, change):
        try:
            saved = dual_threshold_set(actor=request.user, currency=obj.currency, threshold_minor=obj.threshold_minor)
            obj.pk = saved.pk
        except DomainError as err:
            messages.error(request, err.message)
