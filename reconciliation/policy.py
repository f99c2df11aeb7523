"""Who may approve or reject a break's write-off: one function, used by the transition's permission
callable (so buttons only show when allowed), by the services (which answer with its code) and by
the approvals queue's query.

The rules, in order (as for refunds):
1. only billing specialists and team leads decide (auditors and the system never do);
2. nobody decides their own write-off request (``self_approval_forbidden``), superusers included;
3. the decider's role needs a write-off limit for the break's currency (``no_approval_limit``:
   fail closed) and the amount must be within it (``approval_limit_exceeded``). Limits live in the
   database (``WriteOffLimit``): specialists' are small, team leads' larger.
"""

from __future__ import annotations

from typing import Any

from backoffice.errors import DomainError, PermissionDenied
from backoffice.money import format_minor
from backoffice.roles.predicates import is_system, is_worker, user_roles

from .models import Break, WriteOffLimit


def write_off_limits(*, user: Any) -> dict[str, int]:
    """``{currency: highest write-off limit}`` over the user's roles (no row for a currency = refused there)."""
    roles = user_roles(user)
    if not roles:
        return {}
    limits: dict[str, int] = {}
    for currency, limit in WriteOffLimit.objects.filter(role__in=roles).values_list("currency", "limit_minor"):
        limits[currency] = max(limit, limits.get(currency, limit))
    return limits


def write_off_limit_for(*, user: Any, currency: str) -> int | None:
    return write_off_limits(user=user).get(currency.upper())


def write_off_refusal(*, brk: Break, user: Any) -> DomainError | None:
    """Why ``user`` may not approve or reject the write-off of ``brk`` now, or None when they may."""
    if user is None or not getattr(user, "is_authenticated", False) or is_system(user) or not is_worker(user):
        return PermissionDenied("Only billing specialists and team leads decide write-offs.")
    if brk.requester_id is not None and brk.requester_id == user.pk:
        return PermissionDenied(
            f"Nobody decides their own write-off request ({brk.reference}): another person must decide it.",
            code="self_approval_forbidden",
        )
    limit = write_off_limit_for(user=user, currency=brk.currency)
    if limit is None:
        return PermissionDenied(
            f"No write-off limit is configured for your role in {brk.currency}, so you cannot decide this write-off.",
            code="no_approval_limit",
        )
    if brk.amount_minor > limit:
        return PermissionDenied(
            f"{format_minor(brk.amount_minor, brk.currency)} is above your write-off limit of "
            f"{format_minor(limit, brk.currency)}: a team lead decides it.",
            code="approval_limit_exceeded",
        )
    return None
