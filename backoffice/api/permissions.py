"""API permissions from the role predicates: every role reads; only specialists and leads write."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from backoffice.roles.predicates import can_read, is_auditor, is_team_lead, is_worker


class CaseAccess(BasePermission):
    message = "You are not allowed to do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return bool(can_read(user))
        return bool(is_worker(user))


class AuditAccess(BasePermission):
    message = "Only team leads and finance auditors use the audit endpoints."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and request.method in SAFE_METHODS
                    and (is_team_lead(user) or is_auditor(user)))


class VerifyRequestAccess(BasePermission):
    message = "Only team leads and finance auditors ask for a chain verification."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and (is_team_lead(user) or is_auditor(user)))
