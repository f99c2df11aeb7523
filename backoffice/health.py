"""What /healthz reports, and when it is not ok (HTTP 503).

Not ok when the database or the broker cannot be reached, when an enabled schedule names a task
that does not exist, or when an enabled schedule has not run successfully for three of its
intervals (counted from its last success, but never from before the schedule was created or
re-enabled, nor from before the latest scheduler started: a grace period after each start).
Anyone may ask; only staff users and API tokens see the details (``detail_allowed``).
"""

from __future__ import annotations

import socket
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

SCHEDULER_ACTIVE_WITHIN = timedelta(minutes=3)


def _database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "vendor": connection.vendor}
    except DatabaseError as exc:
        return {"ok": False, "vendor": connection.vendor, "error": exc.__class__.__name__}


def _broker() -> dict[str, Any]:
    url = settings.REDIS_URL
    if not url:
        return {"ok": True, "mode": "in-process (no REDIS_URL)"}
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=1) as sock:
            sock.settimeout(1)
            sock.sendall(b"PING\r\n")
            answer = sock.recv(16)
        return {"ok": answer.startswith(b"+PONG") or answer.startswith(b"-NOAUTH"), "mode": "redis"}
    except OSError as exc:
        return {"ok": False, "mode": "redis", "error": exc.__class__.__name__}


def _age(moment: datetime | None, now: datetime) -> int | None:
    return round((now - moment).total_seconds()) if moment else None


def _background(now: datetime) -> tuple[dict[str, Any], list[str], list[str]]:
    from backoffice.notifications.models import SchedulerProcess
    from backoffice.notifications.services import outbox_pending
    from backoffice.scheduling import LATE_AFTER_INTERVALS, schedule_states

    states = schedule_states(now=now)
    problems: list[str] = []
    warnings: list[str] = []
    for state in states:
        if not state.known:
            problems.append(f"schedule {state.name!r} names an unknown task {state.task!r}: nothing runs it")
        elif state.late:
            last = state.last_succeeded_at.isoformat() if state.last_succeeded_at else "never"
            problems.append(
                f"schedule {state.name!r} ({state.task}) has not run successfully for more than "
                f"{LATE_AFTER_INTERVALS} × {state.period_seconds} s (last success: {last})"
            )
    schedulers = list(SchedulerProcess.objects.filter(last_seen_at__gte=now - SCHEDULER_ACTIVE_WITHIN)
                      .order_by("started_at").values("ident", "kind", "started_at", "last_seen_at"))
    if len(schedulers) > 1:
        warnings.append(f"{len(schedulers)} schedulers are running; every task is claim-protected, so nothing "
                        "happens twice, but one is enough")
    last_run = max((s.last_run_at for s in states if s.last_run_at), default=None)
    details = {
        "schedules": [s.as_dict() for s in states],
        "schedulers": [{**s, "started_at": s["started_at"].isoformat(), "last_seen_at": s["last_seen_at"].isoformat()}
                       for s in schedulers],
        "email": outbox_pending(now=now),
        "beat": {"last_run_at": last_run.isoformat() if last_run else None, "age_seconds": _age(last_run, now)},
    }
    return details, problems, warnings


def health_report(*, now: datetime | None = None) -> dict[str, Any]:
    """The full report; ``ok`` is False when anything in ``problems`` is."""
    now = now or timezone.now()
    report: dict[str, Any] = {"database": _database(), "broker": _broker()}
    problems: list[str] = []
    warnings: list[str] = []
    if not report["database"]["ok"]:
        problems.append("the database is unreachable")
    if not report["broker"]["ok"]:
        problems.append("the broker (Redis) is unreachable")
    if report["database"]["ok"]:
        try:
            details, more_problems, warnings = _background(now)
            report.update(details)
            problems += more_problems
        except DatabaseError as exc:
            problems.append(f"the schedule could not be read ({exc.__class__.__name__})")
    report["problems"] = problems
    report["warnings"] = warnings
    report["ok"] = not problems
    return report


def detail_allowed(request: Any) -> bool:
    """Staff users with a session, and API clients with a valid token, see the details."""
    from rest_framework.authentication import SessionAuthentication
    from rest_framework.exceptions import APIException
    from rest_framework.request import Request
    from rest_framework.settings import api_settings

    try:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active and user.is_staff:
            return True
        if not request.headers.get("Authorization"):
            return False
        authenticators = [cls() for cls in api_settings.DEFAULT_AUTHENTICATION_CLASSES
                          if not issubclass(cls, SessionAuthentication)]
        drf_request = Request(request, authenticators=authenticators)
        return drf_request.user is not None and drf_request.user.is_authenticated and drf_request.auth is not None
    except (APIException, DatabaseError):
        return False
