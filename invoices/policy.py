"""Who may decide a payment extension: one module, used by the transition permissions, the services
(which answer with its codes), the extension page (which buttons it shows, and why not) and the
approvals queue.

The rules, in order:
1. only billing specialists and team leads decide (auditors and the system never do);
2. nobody approves or rejects their own request (``self_approval_forbidden``), superusers
   included; the requester may cancel it instead;
3. approving needs an approval limit in days for the approver's role (``approval_limit_missing``:
   fail closed) and the days requested within it (``approval_limit_exceeded``);
4. cancelling is for the requester or a team lead.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from backoffice.errors import PermissionDenied
from backoffice.roles.models import LimitAction
from backoffice.roles.predicates import is_requester, is_team_lead, is_worker
from backoffice.roles.services import approval_limit_for

DECISIONS = ("approve", "reject")


def extension_approval_limit(*, user: Any) -> int | None:
    """The most days this user may approve (None: may not approve extensions at all)."""
    return approval_limit_for(user=user, action=LimitAction.EXTENSION_APPROVE)


def may_decide(user: Any) -> bool:
    """Rule 1: the role may decide extensions at all (the transitions' permission)."""
    return bool(is_worker(user))


def may_cancel(extension: Any, user: Any) -> bool:
    """Rule 4."""
    return bool((is_worker(user) and is_requester(user, extension)) or is_team_lead(user))


def decision_refusal(*, extension: Any, user: Any, name: str) -> PermissionDenied | None:
    """Why ``user`` may not ``name`` (``approve`` or ``reject``) ``extension`` now, or None when they may."""
    if not may_decide(user):
        return PermissionDenied("Only billing specialists and team leads decide extensions.")
    if extension.requester_id == getattr(user, "pk", None):
        return PermissionDenied(
            f"You requested {extension.reference}: someone else must approve or reject it (four eyes). "
            "You may cancel it instead.",
            code="self_approval_forbidden",
        )
    if name != "approve":
        return None
    limit = extension_approval_limit(user=user)
    if limit is None:
        return PermissionDenied("No approval limit for extensions is configured for your role.",
                                code="approval_limit_missing")
    if extension.days_requested > limit:
        return PermissionDenied(
            f"{extension.reference} asks for {extension.days_requested} days, above your approval limit of "
            f"{limit} days: a team lead with a higher limit must approve it.",
            code="approval_limit_exceeded",
            extra={"days_requested": extension.days_requested, "limit_days": limit},
        )
    return None


def approvable_by(queryset: QuerySet, user: Any) -> QuerySet:
    """The extensions in ``queryset`` this user could approve: requested, within their limit, not their own."""
    limit = extension_approval_limit(user=user) if may_decide(user) else None
    if limit is None:
        return queryset.none()
    return queryset.filter(state="requested", days_requested__lte=limit).exclude(requester_id=user.pk)
