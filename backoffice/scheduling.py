"""One way to run a schedule: the django-celery-beat rows, through the Celery task registry.

* **The registry** is loaded the way a worker loads it: Celery's autodiscovery of every installed
  app's ``tasks`` module, forced as soon as Django is set up (``backoffice.notifications`` calls
  ``load_task_modules`` from its ``ready()``), so a web process, ``manage.py`` and a worker all
  know the same tasks.
* **The scheduler** (``Scheduler``, a ``DatabaseScheduler``) is what ``celery beat`` runs
  (``CELERY_BEAT_SCHEDULER``) and what ``manage.py run_periodic`` drives in-process when there is
  no broker (the demo): same rows, same due times, same registry. A schedule whose task is not in
  the registry is never sent and never skipped in silence: it is logged as an error, counted in
  ``TaskRunStatus.unknown_count`` and reported by ``/healthz``. A schedule that has never run is
  due at once (django-celery-beat would wait one interval after the row was created).
* **What ran**: Celery's ``task_prerun`` / ``task_postrun`` signals stamp ``TaskRunStatus`` for
  every scheduled task, wherever it ran; ``schedule_report`` (``/healthz``) compares it with each
  schedule's interval.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery import schedules, signals, states
from celery.beat import SchedulingError
from django.db import DatabaseError, IntegrityError, close_old_connections, connections, transaction
from django.db.models import F
from django.utils import timezone
from django_celery_beat.clockedschedule import clocked
from django_celery_beat.schedulers import DatabaseScheduler, ModelEntry
from django_celery_beat.utils import make_aware

logger = logging.getLogger("backoffice.scheduling")

# Task name, every N minutes: the schedules a fresh installation gets (migration
# notifications.0002/0003 wrote the same rows; ``schedules_install`` puts them back after a flush).
DEFAULT_SCHEDULES: tuple[tuple[str, int], ...] = (
    ("disputes.send_deadline_reminders", 5),
    ("disputes.escalate_overdue", 5),
    ("disputes.expire_past_due", 5),
    ("invoices.check_extensions", 15),
    ("refunds.sweep_processing", 5),
    ("notifications.deliver_outbox", 5),
    ("disputes.resend_stalled_evidence", 15),
    ("insight.refresh_dashboard", 5),
    ("journal.create_partitions", 24 * 60),
)

# A schedule is late when it has not run for this many of its intervals.
LATE_AFTER_INTERVALS = 3
SEEN_EVERY_SECONDS = 60  # how often a running scheduler refreshes its SchedulerProcess row


def celery_app():
    from backoffice.celery import app

    return app


def load_task_modules() -> None:
    """Import every installed app's ``tasks`` module now, as a worker does at start (idempotent)."""
    celery_app().autodiscover_tasks(force=True)


def recycle_connections() -> None:
    """Close database connections that are broken or past CONN_MAX_AGE, as Celery's worker does around
    each task and Django after each request (never inside a transaction, e.g. a test's)."""
    if not any(conn.in_atomic_block for conn in connections.all(initialized_only=True)):
        close_old_connections()


def task_known(name: str) -> bool:
    return name in celery_app().tasks


# ---------------------------------------------------------------- what ran (TaskRunStatus)


def status_ensure(*, task: str, since: datetime | None = None) -> None:
    """Make sure ``task`` has a status row (``first_scheduled_at`` = ``since`` for a new one)."""
    from backoffice.notifications.models import TaskRunStatus

    try:
        with transaction.atomic():
            TaskRunStatus.objects.get_or_create(task=task, defaults={"scheduled_since": since or timezone.now()})
    except IntegrityError:
        pass  # created concurrently


def status_schedule_restarted(*, task: str, at: datetime | None = None) -> None:
    """A schedule for ``task`` was created or re-enabled: its lateness counts from now."""
    from backoffice.notifications.models import TaskRunStatus

    at = at or timezone.now()
    if not TaskRunStatus.objects.filter(task=task).update(scheduled_since=at):
        status_ensure(task=task, since=at)


def status_record_unknown(*, task: str, schedule: str) -> None:
    """A due schedule names a task the registry does not have: an error, logged and counted."""
    from backoffice.notifications.models import TaskRunStatus

    logger.error("schedule_unknown_task schedule=%r task=%r: no such task is registered; nothing was sent. "
                 "Fix the task name in the admin (Periodic tasks) or disable the schedule.", schedule, task)
    try:
        status_ensure(task=task)
        TaskRunStatus.objects.filter(task=task).update(unknown_count=F("unknown_count") + 1,
                                                       last_unknown_at=timezone.now())
    except DatabaseError as exc:
        logger.warning("schedule_unknown_task_not_counted task=%r error=%s", task, exc.__class__.__name__)


_started: dict[str, tuple[float, datetime]] = {}
_finished = {"count": 0}  # task_postrun receptions in this process (the in-process runner reads it)


@signals.task_prerun.connect(dispatch_uid="backoffice.scheduling.task_started")
def _task_started(sender: Any = None, task_id: str | None = None, **kwargs: Any) -> None:
    if task_id:
        _started[task_id] = (time.monotonic(), timezone.now())


@signals.task_postrun.connect(dispatch_uid="backoffice.scheduling.task_finished")
def _task_finished(sender: Any = None, task_id: str | None = None, task: Any = None, state: str | None = None,
                   retval: Any = None, **kwargs: Any) -> None:
    """Stamp the task's status row (only scheduled tasks have one: an UPDATE of nothing otherwise)."""
    _finished["count"] += 1
    begun = _started.pop(task_id or "", None)
    name = getattr(task, "name", None)
    if not name or state == states.RETRY:
        return
    now = timezone.now()
    fields: dict[str, Any] = {"runs": F("runs") + 1}
    if begun is not None:
        fields.update(last_started_at=begun[1], last_duration_ms=max(0, int((time.monotonic() - begun[0]) * 1000)))
    if state == states.SUCCESS:
        fields["last_succeeded_at"] = now
    else:
        fields.update(failures=F("failures") + 1, last_failed_at=now,
                      last_error=f"{retval.__class__.__name__}: {retval}"[:500])
    _status_update(name, fields)


def _status_update(task: str, fields: dict[str, Any]) -> None:
    from backoffice.notifications.models import TaskRunStatus

    for attempt in (1, 2):
        try:
            TaskRunStatus.objects.filter(task=task).update(**fields)
            return
        except DatabaseError as exc:
            # A session dropped under the task (a failover, a restart) failed the task and this update:
            # replace the broken connection and record once more, so the failure is counted.
            if attempt == 1 and _replaced_broken_connection():
                continue
            logger.warning("task_status_not_recorded task=%s error=%s", task, exc.__class__.__name__)
            return


def _replaced_broken_connection() -> bool:
    """Close the default connection when it is broken (outside a transaction); True when it was."""
    conn = connections["default"]
    if conn.connection is None or conn.in_atomic_block:
        return False
    recycle_connections()
    return conn.connection is None


# ---------------------------------------------------------------- the scheduler


class Entry(ModelEntry):
    """A schedule row; an interval schedule that has never run is due at once."""

    def __init__(self, model: Any, app: Any = None):
        self._never_ran = model.last_run_at is None
        super().__init__(model, app=app)

    def is_due(self):
        state = super().is_due()
        model = self.model
        if (state.is_due or not self._never_ran or not model.enabled or model.start_time is not None
                or model.total_run_count or not isinstance(self.schedule, schedules.schedule)):
            return state
        _, next_check = self.schedule.is_due(make_aware(self._default_now()))
        return schedules.schedstate(True, next_check)


class Scheduler(DatabaseScheduler):
    """Celery beat's scheduler for this project (and the in-process runner's)."""

    Entry = Entry

    def __init__(self, *args: Any, **kwargs: Any):
        self.ran: list[str] = []
        self.kind = kwargs.pop("kind", None)
        self._ident = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._seen_at = 0.0
        super().__init__(*args, **kwargs)

    def setup_schedule(self) -> None:
        from django_celery_beat.models import PeriodicTasks

        # django-celery-beat notices an edited schedule by comparing this row's timestamp with the one
        # it saw last; with no row yet (schedules written by a migration create none) the first edit
        # would go unnoticed until its 5-minute full reload.
        try:
            PeriodicTasks.objects.get_or_create(ident=1, defaults={"last_update": timezone.now()})
        except (DatabaseError, IntegrityError) as exc:
            logger.warning("schedule_change_marker_not_created error=%s", exc.__class__.__name__)
        super().setup_schedule()
        self.kind = self.kind or ("in-process" if self.app.conf.task_always_eager else "beat")
        self._register()

    def _register(self) -> None:
        from backoffice.notifications.models import SchedulerProcess

        now = timezone.now()
        try:
            SchedulerProcess.objects.update_or_create(
                ident=self._ident, defaults={"kind": self.kind, "started_at": now, "last_seen_at": now})
            SchedulerProcess.objects.filter(last_seen_at__lt=now - timedelta(days=7)).delete()
        except DatabaseError as exc:
            logger.warning("scheduler_not_registered error=%s", exc.__class__.__name__)
        self._seen_at = time.monotonic()
        logger.info("scheduler_started kind=%s ident=%s", self.kind, self._ident)

    def _seen(self) -> None:
        from backoffice.notifications.models import SchedulerProcess

        if time.monotonic() - self._seen_at < SEEN_EVERY_SECONDS:
            return
        self._seen_at = time.monotonic()
        try:
            if not SchedulerProcess.objects.filter(ident=self._ident).update(last_seen_at=timezone.now()):
                self._register()
        except DatabaseError as exc:
            logger.warning("scheduler_not_seen error=%s", exc.__class__.__name__)

    def close(self) -> None:
        from backoffice.notifications.models import SchedulerProcess

        super().close()
        try:
            SchedulerProcess.objects.filter(ident=self._ident).delete()
        except DatabaseError as exc:
            logger.warning("scheduler_not_unregistered error=%s", exc.__class__.__name__)
        logger.info("scheduler_stopped kind=%s ident=%s", self.kind, self._ident)

    def all_as_schedule(self) -> dict[str, Any]:
        from backoffice.notifications.models import TaskRunStatus

        schedule = super().all_as_schedule()
        now = timezone.now()
        try:  # a status row for every known task, so its runs are recorded (one query)
            TaskRunStatus.objects.bulk_create(
                [TaskRunStatus(task=task, scheduled_since=now)
                 for task in sorted({e.task for e in schedule.values() if task_known(e.task)})],
                ignore_conflicts=True)
        except DatabaseError as exc:
            logger.warning("task_status_not_created error=%s", exc.__class__.__name__)
        return schedule

    def tick(self, *args: Any, **kwargs: Any) -> float:
        self._seen()
        return super().tick(*args, **kwargs)

    def apply_entry(self, entry: Any, producer: Any = None) -> None:
        if not task_known(entry.task):
            status_record_unknown(task=entry.task, schedule=entry.name)
            return
        logger.info("schedule_due schedule=%s task=%s", entry.name, entry.task)
        in_process = self.app.conf.task_always_eager
        if in_process:
            recycle_connections()  # what a worker does around each task: a dropped connection is replaced
        finished_before = _finished["count"]
        try:
            self.apply_async(entry, producer=producer, advance=False)
        except SchedulingError as exc:
            # Broker unreachable (beat), or the task failed (in-process: it ran here, and its failure
            # is counted by task_postrun, unless it failed before starting, e.g. on its arguments).
            # The next due time tries again.
            cause = exc.__cause__ or exc.__context__ or exc
            error = f"{cause.__class__.__name__}: {cause}"
            logger.error("schedule_failed schedule=%s task=%s error=%s", entry.name, entry.task, error[:300])
            if in_process and _finished["count"] == finished_before:
                now = timezone.now()
                _status_update(entry.task, {"runs": F("runs") + 1, "failures": F("failures") + 1,
                                            "last_failed_at": now, "last_error": error[:500]})
            elif in_process:  # counted by task_postrun, which an eager task's failure reaches without its error
                _status_update(entry.task, {"last_error": error[:500]})
        else:
            self.ran.append(entry.name)
        finally:
            if in_process:
                recycle_connections()

    def run_all_now(self) -> list[str]:
        """Run (or send) every enabled schedule at once, in name order, whether due or not; stamps them as run.
        Sends through the app's producer pool, so an unreachable broker fails each send at once."""
        return self.run_now(self.schedule)

    def run_now(self, names: Iterable[str]) -> list[str]:
        """Run (or send) the named enabled schedules at once, in name order, whether due or not; stamps them
        as run. Returns the names that ran (in-process) or were sent."""
        start = len(self.ran)
        schedule = self.schedule
        for name in sorted(set(names) & set(schedule)):
            self.apply_entry(self.reserve(schedule[name]))
        self.sync()
        self._heap = None  # due times changed: rebuild
        return self.ran[start:]

    def run_due(self) -> list[str]:
        """Run (or send) every schedule that is due now, then return."""
        start = len(self.ran)
        while self.tick() == 0:
            pass
        self.sync()
        return self.ran[start:]


# ---------------------------------------------------------------- installing the default rows


def schedules_install() -> int:
    """Create the default schedules that are missing (after a database flush, or by hand). Returns how many."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    created = 0
    for task, minutes in DEFAULT_SCHEDULES:
        interval, _ = IntervalSchedule.objects.get_or_create(every=minutes, period=IntervalSchedule.MINUTES)
        _, new = PeriodicTask.objects.get_or_create(
            name=task, defaults={"task": task, "interval": interval, "enabled": True,
                                 "description": "A default schedule of the back-office; edit freely."})
        created += new
    return created


def on_periodic_task_saved(sender: Any, instance: Any, created: bool = False, **kwargs: Any) -> None:
    """A schedule created or (re-)enabled starts its lateness clock now (django-celery-beat clears
    ``last_run_at`` when a schedule is disabled)."""
    if instance.enabled and instance.last_run_at is None and instance.task:
        try:
            status_schedule_restarted(task=instance.task)
        except DatabaseError as exc:
            logger.warning("task_status_not_updated task=%s error=%s", instance.task, exc.__class__.__name__)


# ---------------------------------------------------------------- health


def schedule_period(periodic_task: Any) -> timedelta | None:
    """How often the row is meant to run; None for a one-off (clocked) schedule."""
    schedule = periodic_task.schedule
    if isinstance(schedule, clocked):
        return None
    if isinstance(schedule, schedules.schedule):
        return schedule.run_every
    if isinstance(schedule, schedules.crontab):
        now = make_aware(datetime.now())
        first = now + schedule.remaining_estimate(now)
        return schedule.remaining_estimate(first) - (first - now)
    return timedelta(days=1)  # solar: once a day


@dataclass(frozen=True)
class ScheduleState:
    name: str
    task: str
    known: bool
    period_seconds: int | None
    last_run_at: datetime | None  # the scheduler's stamp (sent / run in-process)
    last_succeeded_at: datetime | None  # the task's own stamp (finished without error)
    runs: int
    failures: int
    last_error: str
    late_seconds: int | None  # how far past LATE_AFTER_INTERVALS × period, when late

    @property
    def late(self) -> bool:
        return self.late_seconds is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "task": self.task, "known_task": self.known, "every_seconds": self.period_seconds,
            "last_run_at": self.last_run_at.isoformat() if self.last_run_at else None,
            "last_succeeded_at": self.last_succeeded_at.isoformat() if self.last_succeeded_at else None,
            "runs": self.runs, "failures": self.failures, "last_error": self.last_error, "late": self.late,
        }


def schedule_states(*, now: datetime | None = None) -> list[ScheduleState]:
    """Every enabled schedule with what it last did; three queries whatever the number of rows."""
    from django_celery_beat.models import PeriodicTask

    from backoffice.notifications.models import SchedulerProcess, TaskRunStatus

    now = now or timezone.now()
    rows = list(PeriodicTask.objects.filter(enabled=True)
                .select_related("interval", "crontab", "solar", "clocked").order_by("name"))
    statuses = {s.task: s for s in TaskRunStatus.objects.filter(task__in={r.task for r in rows})}
    started = SchedulerProcess.objects.order_by("-started_at").values_list("started_at", flat=True).first()
    states_: list[ScheduleState] = []
    for row in rows:
        status = statuses.get(row.task)
        known = task_known(row.task)
        period = schedule_period(row)
        last_ok = status.last_succeeded_at if status else None
        late_seconds = None
        if known and period is not None:
            # Lateness counts from the last success, but never from before the schedule was created
            # or (re-)enabled, nor from before the latest scheduler started: a grace period.
            since = [last_ok, started, status.scheduled_since if status else None,
                     row.date_changed if row.last_run_at is None else None]
            reference = max(t for t in since if t is not None) if any(since) else now
            overdue = now - reference - period * LATE_AFTER_INTERVALS
            if overdue > timedelta(0):
                late_seconds = int(overdue.total_seconds())
        states_.append(ScheduleState(
            name=row.name, task=row.task, known=known,
            period_seconds=int(period.total_seconds()) if period else None,
            last_run_at=row.last_run_at, last_succeeded_at=last_ok,
            runs=status.runs if status else 0, failures=status.failures if status else 0,
            last_error=status.last_error if status else "", late_seconds=late_seconds,
        ))
    return states_


# ---------------------------------------------------------------- bounded scans


@dataclass
class ScanResult:
    """What one run of a periodic scan did: ``acted`` on cases, ``skipped`` ones (claimed by another
    run, refused), in ``batches``; ``more`` when the batch limit or the time budget stopped it first
    (the next run goes on from there)."""

    task: str
    acted: int = 0
    skipped: int = 0
    batches: int = 0
    more: bool = False
    seconds: float = 0.0
    budget: TimeBudget | None = field(default=None, repr=False, compare=False)

    def out_of_time(self) -> bool:
        """True (and ``more``: the next run goes on) once the run's time budget is spent."""
        if self.budget is not None and self.budget.spent:
            self.more = True
            return True
        return False

    def finish(self) -> ScanResult:
        """Note how long the run took and log it."""
        if self.budget is not None:
            self.seconds = self.budget.elapsed
        return self.log()

    def as_dict(self) -> dict[str, Any]:
        return {"acted": self.acted, "skipped": self.skipped, "batches": self.batches, "more": self.more,
                "seconds": round(self.seconds, 3)}

    def log(self) -> ScanResult:
        logger.info("scan_end task=%s acted=%s skipped=%s batches=%s more=%s seconds=%.3f", self.task, self.acted,
                    self.skipped, self.batches, self.more, self.seconds)
        return self


class TimeBudget:
    """``PERIODIC_TASK_TIME_BUDGET_SECONDS`` (or ``seconds``) from now; a scan stops between batches or
    cases once it is spent, so a run never outlasts its interval however much is due."""

    def __init__(self, seconds: float | None = None):
        from django.conf import settings

        self.seconds = settings.PERIODIC_TASK_TIME_BUDGET_SECONDS if seconds is None else seconds
        self.started = time.monotonic()

    @property
    def spent(self) -> bool:
        return time.monotonic() - self.started >= self.seconds

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


def batch_size(value: int | None = None) -> int:
    from django.conf import settings

    return max(1, value or settings.PERIODIC_TASK_BATCH_SIZE)
