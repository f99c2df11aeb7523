"""Request-scoped facts (request id, client IP) that the journal records in each row's context."""

from __future__ import annotations

import contextvars
from typing import Any

_request_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "backoffice_request_context", default=None
)


def set_request_context(values: dict[str, Any] | None) -> contextvars.Token:
    return _request_context.set(values)


def reset_request_context(token: contextvars.Token) -> None:
    _request_context.reset(token)


def current_request_context() -> dict[str, Any]:
    return dict(_request_context.get() or {})


# What every log line carries (request id, user, case reference, task name) when JSON logs are on:
# the web middleware and the Celery signals bind it, the transition service adds the case reference.
_log_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "backoffice_log_context", default=None
)


def bind_log_context(**values: Any) -> None:
    """Add facts to this request's or task's log lines (None values are dropped)."""
    current = dict(_log_context.get() or {})
    current.update({k: v for k, v in values.items() if v not in (None, "")})
    _log_context.set(current)


def reset_log_context() -> contextvars.Token:
    return _log_context.set({})


def push_log_context() -> contextvars.Token:
    """Start a nested scope that keeps what is bound (restore it with ``restore_log_context``)."""
    return _log_context.set(dict(_log_context.get() or {}))


def restore_log_context(token: contextvars.Token) -> None:
    _log_context.reset(token)


def current_log_context() -> dict[str, Any]:
    return dict(_log_context.get() or {})
