"""Periodic work on payment extensions (scheduled by django-celery-beat as ``invoices.check_extensions``)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from .services import extension_check_due

logger = logging.getLogger("invoices.tasks")


@shared_task(name="invoices.check_extensions", acks_late=True)
def check_extensions() -> dict[str, int]:
    """Fulfil or break every approved extension that is due, in keyset batches within the run's time
    budget. Each one is re-fetched by id and decided in its own transaction; a second run finds
    nothing left to do."""
    logger.info("task_start task=invoices.check_extensions")
    counts = extension_check_due(batch_size=settings.PERIODIC_TASK_BATCH_SIZE,
                                 budget_seconds=settings.PERIODIC_TASK_TIME_BUDGET_SECONDS)
    logger.info(
        "task_end task=invoices.check_extensions checked=%s fulfilled=%s broken=%s pending=%s skipped=%s",
        counts["checked"], counts["fulfilled"], counts["broken"], counts["pending"], counts["skipped"],
        extra={"task": "invoices.check_extensions", **counts},
    )
    return counts

