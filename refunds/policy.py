"""Who may decide (approve or reject) a refund: one function, used by the transition's permission
callable (so buttons only show when allowed) and by the services (which answer with its code).

The rules, in order:
1. only billing specialists and team leads decide (auditors and the system never do);
2. nobody decides their own request (``self_approval_forbidden``), superusers included;
3. the approver's role needs a limit for the refund's currency (``no_approval_limit``: fail closed)
   and the amount must be within it (``approval_limit_exceeded``; specialists default to 0);
4. a second approval comes from someone who has not decided this refund yet (``same_approver``).
"""

from __future__ import annotations

from typing import Any

from backoffice.errors import DomainError, PermissionDenied
from backoffice.money import format_minor
from backoffice.roles.models import LimitAction
from backoffice.roles.predicates import is_system, is_worker
from backoffice.roles.services import approval_limit_for, dual_approval_threshold_for

from .models import Refund, RefundApproval, RefundState


def _already_decided_by(refund: Refund, user: Any) -> bool:
    cache = getattr(refund, "_prefetched_objects_cache", {})
    if "approvals" in cache:
        return any(a.approver_id == user.pk for a in cache["approvals"])
    return RefundApproval.objects.filter(refund_id=refund.pk, approver_id=user.pk).exists()


def decision_refusal(*, refund: Refund, user: Any) -> DomainError | None:
    """Why ``user`` may not approve or reject ``refund`` now, or None when they may.

    A transition asks twice on the row it has just locked (the policy's refusal, then the model's
    permission): the answer is kept on that instance for the same user, state and amount, so the
    approver's limit is read once per decision."""
    key = (getattr(user, "pk", None), refund.state, refund.amount_minor, refund.currency)
    kept = refund.__dict__.get("_decision_refusal")
    if kept is not None and kept[0] == key:
        return kept[1]
    answer = _decision_refusal(refund=refund, user=user)
    refund.__dict__["_decision_refusal"] = (key, answer)
    return answer


def _decision_refusal(*, refund: Refund, user: Any) -> DomainError | None:
    if user is None or not getattr(user, "is_authenticated", False) or is_system(user) or not is_worker(user):
        return PermissionDenied("Only billing specialists and team leads approve or reject refunds.")
    if refund.requester_id == user.pk:
        return PermissionDenied(
            f"Nobody approves or rejects their own refund request ({refund.reference}): "
            "another approver must decide it.",
            code="self_approval_forbidden",
        )
    limit = approval_limit_for(user=user, action=LimitAction.REFUND_APPROVE, currency=refund.currency)
    if limit is None:
        return PermissionDenied(
            f"No refund approval limit is configured for your role in {refund.currency}, so you cannot decide "
            "this refund.",
            code="no_approval_limit",
        )
    if refund.amount_minor > limit:
        return PermissionDenied(
            f"{format_minor(refund.amount_minor, refund.currency)} is above your approval limit of "
            f"{format_minor(limit, refund.currency)}.",
            code="approval_limit_exceeded",
        )
    if refund.state == RefundState.PENDING_SECOND_APPROVAL and _already_decided_by(refund, user):
        return PermissionDenied(
            "The second approval must come from someone other than the first approver.", code="same_approver"
        )
    return None


def needs_second_approval(*, refund: Refund) -> bool:
    """At or above the currency's dual-approval threshold two approvers are needed; no threshold → always."""
    threshold = dual_approval_threshold_for(currency=refund.currency)
    return threshold is None or refund.amount_minor >= threshold
