"""What /healthz reports: database, broker and the age of the last periodic-task run."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.db import DatabaseError, connection


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


def _beat() -> dict[str, Any]:
    from django.db.models import Max
    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask

    try:
        last = PeriodicTask.objects.filter(enabled=True).aggregate(last=Max("last_run_at"))["last"]
    except DatabaseError:
        return {"last_run_at": None, "age_seconds": None}
    return {
        "last_run_at": last.isoformat() if last else None,
        "age_seconds": round((timezone.now() - last).total_seconds()) if last else None,
    }


def health_report() -> dict[str, Any]:
    report = {"database": _database(), "broker": _broker()}
    report["beat"] = _beat() if report["database"]["ok"] else {"last_run_at": None, "age_seconds": None}
    report["ok"] = report["database"]["ok"] and report["broker"]["ok"]
    return report
