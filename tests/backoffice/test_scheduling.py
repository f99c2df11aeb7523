"""The scheduler Celery beat runs is the one the in-process runner drives: same rows, same registry."""

import logging

import pytest
from celery import current_app
from celery.signals import task_prerun
from django_celery_beat.models import PeriodicTask

from backoffice.notifications.models import SchedulerProcess, TaskRunStatus
from backoffice.scheduling import DEFAULT_SCHEDULES, Scheduler, schedule_states

pytestmark = pytest.mark.django_db(transaction=True)  # the scheduler commits, as in production


def test_the_registry_holds_every_scheduled_task_without_importing_a_task_module():
    """Loaded at Django setup (autodiscovery forced): nothing in this test imported a tasks module."""
    scheduled = set(PeriodicTask.objects.filter(enabled=True).values_list("task", flat=True))
    assert scheduled >= {task for task, _ in DEFAULT_SCHEDULES}
    assert scheduled <= set(current_app.tasks)


def test_never_run_schedules_run_at_once_and_an_unknown_task_is_an_error_not_a_skip(caplog):
    PeriodicTask.objects.filter(name="invoices.check_extensions").update(task="invoices.check_extension_typo")
    scheduler = Scheduler(app=current_app, kind="in-process")
    try:
        with caplog.at_level(logging.ERROR, logger="backoffice.scheduling"):
            ran = scheduler.run_due()
        assert set(ran) >= {name for name, _ in DEFAULT_SCHEDULES} - {"invoices.check_extensions"}
        assert "invoices.check_extensions" not in ran
        assert any("schedule_unknown_task" in r.getMessage() and "invoices.check_extension_typo" in r.getMessage()
                   for r in caplog.records)
        assert TaskRunStatus.objects.get(task="invoices.check_extension_typo").unknown_count == 1
        for name in ran:
            row = PeriodicTask.objects.get(name=name)
            assert row.last_run_at is not None and row.total_run_count == 1
            status = TaskRunStatus.objects.get(task=row.task)
            assert status.runs == 1 and status.last_succeeded_at is not None and status.failures == 0
        assert SchedulerProcess.objects.filter(kind="in-process").count() == 1

        assert scheduler.run_due() == []  # nothing is due again within the interval
        states = {s.name: s for s in schedule_states()}
        assert states["invoices.check_extensions"].known is False
        assert not any(s.late for s in states.values())
    finally:
        scheduler.close()
    assert not SchedulerProcess.objects.exists()


def test_a_failing_task_is_counted_and_the_others_still_run(interval_every_minute):
    PeriodicTask.objects.create(name="broken: submit without an id", task="refunds.submit_refund",
                                interval=interval_every_minute)
    scheduler = Scheduler(app=current_app, kind="in-process")
    try:
        ran = scheduler.run_due()
    finally:
        scheduler.close()
    assert "disputes.expire_past_due" in ran and "broken: submit without an id" not in ran
    status = TaskRunStatus.objects.get(task="refunds.submit_refund")
    assert status.failures == 1 and status.last_succeeded_at is None and "TypeError" in status.last_error
    assert TaskRunStatus.objects.get(task="disputes.expire_past_due").last_succeeded_at is not None


@pytest.fixture
def interval_every_minute():
    from django_celery_beat.models import IntervalSchedule

    return IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.MINUTES)[0]


@pytest.mark.postgres
def test_a_task_run_on_a_dropped_database_session_is_counted_as_failed():
    """A failover or restart terminates the session under a task: the task fails on it, and so would the status
    update on the same connection; it is written on a fresh one, so /healthz counts the failure."""
    from django.db import connection

    from backoffice.simulation.faults import terminate_session

    saved = connection.settings_dict["CONN_MAX_AGE"]
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = None  # persistent (DB_CONN_MAX_AGE): nothing reconnects before a run
    dropped = []

    def drop_once(**kwargs):
        if not dropped:
            dropped.append(terminate_session(connection))

    scheduler = Scheduler(app=current_app, kind="in-process")
    try:
        scheduler.run_now(["disputes.expire_past_due"])
        task_prerun.connect(drop_once, weak=False, dispatch_uid="test.drop_once")
        scheduler.run_now(["disputes.expire_past_due"])
        task_prerun.disconnect(dispatch_uid="test.drop_once")
        scheduler.run_now(["disputes.expire_past_due"])  # the next run reconnects
    finally:
        task_prerun.disconnect(dispatch_uid="test.drop_once")
        scheduler.close()
        connection.close()
        connection.settings_dict["CONN_MAX_AGE"] = saved
    assert dropped
    status = TaskRunStatus.objects.get(task="disputes.expire_past_due")
    assert status.runs == 3 and status.failures == 1
    assert status.last_error.startswith("OperationalError: terminating connection")
    assert status.last_succeeded_at > status.last_failed_at
