"""Enqueueing that never hurts the request: after commit, with bounded timeouts, and when the
broker is down the work is left to the sweepers (state lives in the database, not in the broker)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from kombu.exceptions import OperationalError as KombuOperationalError

logger = logging.getLogger("backoffice.queueing")

try:  # redis-py's errors surface directly from some kombu code paths
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - redis is a requirement
    RedisError = KombuOperationalError  # type: ignore[misc,assignment]


def enqueue_now(task: Any, *args: Any) -> bool:
    """Send ``task`` with ``args``; False (and a log line) when the broker cannot be reached."""
    try:
        task.apply_async(args=args, retry=False)
        return True
    except (KombuOperationalError, RedisError, OSError) as exc:
        logger.warning("enqueue_failed task=%s args=%s error=%s; the sweeper will pick it up",
                       task.name, args, exc.__class__.__name__)
        return False


def enqueue_on_commit(task: Any, *args: Any) -> None:
    """Send ``task`` once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(lambda: enqueue_now(task, *args))
