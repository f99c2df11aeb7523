"""What every admin shares: read-only rows, and transitions as actions that ask for a reason.

Rows change only through the services, so the admin never adds, changes or deletes them itself
(``ReadOnlyAdminMixin``). A transition is an admin action (``transition_action``): it first shows
the selection and asks for a reason, then calls the case type's registered dispatcher for each
row, so the admin obeys the same rules as the pages and the API (a superuser cannot approve their
own request) and every refusal is reported and recorded like anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.http import HttpRequest
from django.template.response import TemplateResponse

from backoffice.cases.registry import case_type_for_model
from backoffice.errors import DomainError

ADMIN_ACTION_LIMIT = 200


class ReadOnlyAdminMixin:
    """No add, change or delete from the admin, for anyone (auditors and superusers alike)."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    show_full_result_count = False


def transition_action(name: str, label: str, *, reason_required: bool = True) -> Callable[..., Any]:
    """The admin action ``<name>_selected``: ask for a reason, then run transition ``name`` on each row."""

    def run(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: Any) -> TemplateResponse | None:
        model = modeladmin.model
        noun = getattr(model, "CASE_TYPE", model._meta.model_name)
        reason = (request.POST.get("reason") or "").strip()
        confirmed = request.POST.get("confirm") == "yes"
        if not confirmed or (reason_required and not reason):
            return TemplateResponse(request, "admin/transition_with_reason.html", {
                **modeladmin.admin_site.each_context(request),
                "title": f"{label} {model._meta.verbose_name_plural}",
                "label": label,
                "action_name": run.__name__,
                "cases": list(queryset.order_by("pk")[:ADMIN_ACTION_LIMIT]),
                "opts": model._meta,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "reason_required": reason_required,
                "reason_missing": confirmed,
            })
        dispatch = case_type_for_model(model).transition
        done = 0
        for case in queryset.order_by("pk")[:ADMIN_ACTION_LIMIT]:
            try:
                dispatch(case_id=case.pk, name=name, actor=request.user, reason=reason or f"admin action: {label}",
                         data={})
                done += 1
            except DomainError as err:
                modeladmin.message_user(request, f"{case.reference}: {err.message} ({err.code})", messages.ERROR)
        if done:
            modeladmin.message_user(request, f"{label}: {done} {noun}(s) done.", messages.SUCCESS)
        return None

    run.__name__ = f"{name}_selected"
    return admin.action(description=f"{label} selected{' (asks for a reason)' if reason_required else ''}")(run)
