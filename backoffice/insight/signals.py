"""Counts every Celery task run and failure in ``TaskRunStat`` (the worker writes; /metrics reads).

One UPDATE per task run, in its own transaction; a broken counter never fails the task itself.
"""

from __future__ import annotations

import logging

from celery.signals import task_postrun
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

logger = logging.getLogger("backoffice.insight")


def task_run_record(*, task: str, failed: bool) -> None:
    from .models import TaskRunStat

    now = timezone.now()
    changes = {"runs": F("runs") + 1, "last_run_at": now}
    if failed:
        changes.update(failures=F("failures") + 1, last_failure_at=now)
    with transaction.atomic():
        if TaskRunStat.objects.filter(task=task).update(**changes):
            return
        try:
            with transaction.atomic():
                TaskRunStat.objects.create(task=task, runs=1, failures=int(failed), last_run_at=now,
                                           last_failure_at=now if failed else None)
        except IntegrityError:
            TaskRunStat.objects.filter(task=task).update(**changes)


@task_postrun.connect(dispatch_uid="insight-task-run-stat")
def _count_task_run(sender=None, task=None, state=None, **kwargs) -> None:
    name = getattr(task, "name", None) or getattr(sender, "name", None)
    if not name or state == "RETRY":
        return
    try:
        # No state at all: the task raised in-process with eager propagation (the demo and tests).
        task_run_record(task=name, failed=state in ("FAILURE", None))
    except DatabaseError:
        logger.warning("task_run_stat_not_recorded task=%s", name)
