"""``rules`` predicates and permissions for the three roles, used by services, API, pages and admin alike.

django-fsm-2 does not enforce ``permission=`` itself: the transition service calls the
transition's permission callable (built from these predicates) for this user and this object.
"""

from __future__ import annotations

from typing import Any

import rules

from .models import Role

is_specialist = rules.is_group_member(Role.SPECIALIST)
is_team_lead = rules.is_group_member(Role.TEAM_LEAD)
is_auditor = rules.is_group_member(Role.AUDITOR)


@rules.predicate
def is_system(user: Any) -> bool:
    return bool(getattr(user, "is_system", False))


is_worker = is_specialist | is_team_lead
can_read = is_worker | is_auditor | is_system


@rules.predicate
def is_requester(user: Any, obj: Any) -> bool:
    """True when ``obj`` was requested by ``user`` (the maker in maker-checker)."""
    if obj is None or getattr(user, "is_system", False):
        return False
    return getattr(obj, "requester_id", None) == user.pk


not_own_request = ~is_requester

rules.add_perm("backoffice.read", can_read)
rules.add_perm("backoffice.write", is_worker)
rules.add_perm("backoffice.lead", is_team_lead)
rules.add_perm("backoffice.audit", is_team_lead | is_auditor)
rules.add_perm("backoffice.reassign", is_team_lead)


def user_roles(user: Any) -> set[str]:
    if user is None or not getattr(user, "is_authenticated", False) or getattr(user, "is_system", False):
        return set()
    cached = getattr(user, "_backoffice_roles", None)
    if cached is None:
        cached = set(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
        user._backoffice_roles = cached
    return cached
