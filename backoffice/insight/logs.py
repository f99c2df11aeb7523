"""JSON-lines logs for ELK / Loki: every line carries the request id, the user, the case reference
and the task name when they are known. Switched on with ``LOG_FORMAT=json`` (settings ``LOG_FORMAT``).

Fields: ``time``, ``level``, ``logger``, ``message``, then ``request_id``, ``user``, ``case_reference``,
``task``, ``task_id`` when bound, plus anything passed with ``extra=``.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import task_postrun, task_prerun
from django.urls import Resolver404, resolve

from backoffice.context import (
    bind_log_context,
    current_log_context,
    current_request_context,
    push_log_context,
    reset_log_context,
    restore_log_context,
)

CONTEXT_FIELDS = ("request_id", "user", "case_reference", "task", "task_id")


class ContextFilter(logging.Filter):
    """Copies the bound context onto each record (attributes a formatter can print)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = {**{k: v for k, v in current_request_context().items() if k == "request_id"},
                   **current_log_context()}
        for name in CONTEXT_FIELDS:
            if name in context and not hasattr(record, name):
                setattr(record, name, context[name])
        return True


def _case_reference_for(kwargs: dict[str, Any], url_name: str, namespace: str) -> str:
    """The case a page or API URL is about, from its kwargs (references are derived from ids)."""
    from backoffice.cases.registry import case_types, get_case_type

    pk = kwargs.get("pk")
    if not isinstance(pk, int):
        return ""
    spec = get_case_type(kwargs.get("type_key", "")) if "type_key" in kwargs else None
    if spec is None:
        for candidate in case_types():
            if namespace == candidate.key or candidate.detail_url_name.split(":")[0] == namespace \
                    or url_name.startswith(candidate.model.CASE_TYPE):
                spec = candidate
                break
    return spec.model.format_reference(pk) if spec is not None else ""


class LogContextMiddleware:
    """Binds the user and, for case URLs, the case reference for the request's log lines."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = reset_log_context()
        try:
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                bind_log_context(user=user.get_username())
            try:
                match = resolve(request.path_info)
                bind_log_context(case_reference=_case_reference_for(match.kwargs, match.url_name or "",
                                                                    match.namespace or ""))
            except Resolver404:
                pass
            return self.get_response(request)
        finally:
            restore_log_context(token)


_task_tokens: dict[str, Any] = {}


@task_prerun.connect(dispatch_uid="insight-log-task-start")
def _bind_task(sender=None, task_id=None, task=None, **kwargs) -> None:
    # A task run in-process (eager) inside a request keeps the request's facts and adds its own.
    _task_tokens[task_id or ""] = push_log_context()
    bind_log_context(task=getattr(task, "name", None) or getattr(sender, "name", None), task_id=task_id)


@task_postrun.connect(dispatch_uid="insight-log-task-end")
def _unbind_task(task_id=None, **kwargs) -> None:
    token = _task_tokens.pop(task_id or "", None)
    if token is not None:
        restore_log_context(token)
