"""Approval limits: looked up fail-closed, changed only through a journaled service."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from backoffice.errors import InvalidInput, PermissionDenied
from backoffice.journal.services import journal_record

from .models import ApprovalLimit, DualApprovalThreshold, LimitAction, Role
from .predicates import user_roles


def approval_limit_for(*, user: Any, action: str, currency: str = "") -> int | None:
    """The highest limit any of the user's roles has for this action and currency; None = refused."""
    roles = user_roles(user)
    if not roles:
        return None
    limits = ApprovalLimit.objects.filter(role__in=roles, action=action, currency=currency.upper()).values_list(
        "limit", flat=True
    )
    return max(limits, default=None)


def dual_approval_threshold_for(*, currency: str) -> int | None:
    return (
        DualApprovalThreshold.objects.filter(currency=currency.upper())
        .values_list("threshold_minor", flat=True)
        .first()
    )


def approval_limit_set(*, actor: Any, role: str, action: str, currency: str = "", limit: int) -> ApprovalLimit:
    """Create or change one limit; superusers only; the change is journaled (case type ``approval_limit``)."""
    if not getattr(actor, "is_superuser", False):
        raise PermissionDenied("Only a superuser may change approval limits.")
    if role not in Role.values or action not in LimitAction.values:
        raise InvalidInput("Unknown role or action.")
    if limit is None or int(limit) < 0:
        raise InvalidInput("A limit must be zero or more.")
    currency = (currency or "").upper()
    if action == LimitAction.REFUND_APPROVE and len(currency) != 3:
        raise InvalidInput("A refund limit needs a 3-letter currency.")
    if action == LimitAction.EXTENSION_APPROVE:
        currency = ""
    with transaction.atomic():
        obj = ApprovalLimit.objects.select_for_update().filter(role=role, action=action, currency=currency).first()
        old = None if obj is None else obj.limit
        if obj is None:
            obj = ApprovalLimit.objects.create(role=role, action=action, currency=currency, limit=int(limit))
        else:
            obj.limit = int(limit)
            obj.save(update_fields=["limit", "updated_at"])
        journal_record(
            case_type="approval_limit",
            case_id=obj.pk,
            case_reference=f"{role}/{action}/{currency or 'days'}",
            transition="set_limit",
            source="" if old is None else str(old),
            target=str(obj.limit),
            actor=actor,
            context={"role": role, "action": action, "currency": currency, "old": old, "new": obj.limit},
        )
    return obj


def dual_threshold_set(*, actor: Any, currency: str, threshold_minor: int) -> DualApprovalThreshold:
    if not getattr(actor, "is_superuser", False):
        raise PermissionDenied("Only a superuser may change approval thresholds.")
    currency = (currency or "").upper()
    if len(currency) != 3 or threshold_minor is None or int(threshold_minor) <= 0:
        raise InvalidInput("A threshold needs a 3-letter currency and a positive amount.")
    with transaction.atomic():
        obj = DualApprovalThreshold.objects.select_for_update().filter(currency=currency).first()
        old = None if obj is None else obj.threshold_minor
        if obj is None:
            obj = DualApprovalThreshold.objects.create(currency=currency, threshold_minor=int(threshold_minor))
        else:
            obj.threshold_minor = int(threshold_minor)
            obj.save(update_fields=["threshold_minor", "updated_at"])
        journal_record(
            case_type="approval_threshold",
            case_id=obj.pk,
            case_reference=f"dual/{currency}",
            transition="set_threshold",
            source="" if old is None else str(old),
            target=str(obj.threshold_minor),
            actor=actor,
            context={"currency": currency, "old": old, "new": obj.threshold_minor},
        )
    return obj
