"""Domain errors with stable codes, mapped once for the API, once for pages and once for the admin.

Every refusal a user can meet is one of these; the ``code`` is part of the API contract.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class: ``code`` is stable, ``status`` is the HTTP status the API answers with."""

    code = "invalid"
    status = 400

    def __init__(self, message: str = "", *, code: str | None = None, extra: dict[str, Any] | None = None):
        self.message = message or self.default_message()
        if code:
            self.code = code
        self.extra = extra or {}
        super().__init__(self.message)

    def default_message(self) -> str:
        return "The request is not valid."

    def as_dict(self) -> dict[str, Any]:
        return {"detail": self.message, "code": self.code, **self.extra}


class InvalidInput(DomainError):
    """400: the input itself is wrong (missing field, bad amount, bad file)."""


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403

    def default_message(self) -> str:
        return "You are not allowed to do this."


class NotFound(DomainError):
    code = "not_found"
    status = 404

    def default_message(self) -> str:
        return "Not found."


class Conflict(DomainError):
    """409: the case's current state (or a business rule about it) refuses the action."""

    code = "conflict"
    status = 409


class TransitionNotAllowed(Conflict):
    code = "transition_not_allowed"

    def default_message(self) -> str:
        return "This action is not allowed in the case's current state."


class ConcurrentChange(Conflict):
    code = "concurrent_change"

    def default_message(self) -> str:
        return "Someone else changed this case at the same moment. Reload and try again."


class BusinessRuleViolation(Conflict):
    """A rule of the domain refuses the action (e.g. ``evidence_incomplete``, ``refund_exceeds_refundable``)."""

    code = "rule_violation"


class IdempotencyMismatch(DomainError):
    code = "idempotency_key_reused"
    status = 422

    def default_message(self) -> str:
        return "This Idempotency-Key was already used with a different request body."
