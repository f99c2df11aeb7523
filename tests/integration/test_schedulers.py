"""Two schedulers by mistake send nothing twice: every periodic task is idempotent by its claim rows.

Two threads running every scan at once; two real ``celery beat`` processes with the project's scheduler
sending every schedule to a real worker; two ``manage.py run_periodic --loop`` (the demo's runner)."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connections
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from backoffice.gateway.models import SandboxRefund
from backoffice.health import health_report
from backoffice.journal.models import JournalEntry
from backoffice.notifications.models import CaseAlert, Notification, OutboxEmail, SchedulerProcess, TaskRunStatus
from backoffice.scheduling import DEFAULT_SCHEDULES
from disputes.models import Dispute
from disputes.tasks import escalate_overdue_now, expire_past_due_now, send_deadline_reminders_now
from refunds.models import Refund
from tests.disputes.factories import DisputeFactory
from tests.integration.processes import celery, manage, product_env, wait_for
from tests.invoices.factories import PaymentFactory
from tests.refunds.factories import RefundFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def deadline_work(reminders=20, overdue=10, past_due=10):
    now = timezone.now()
    payment = PaymentFactory(amount_minor=10**8)
    made = {"reminders": [], "overdue": [], "past_due": []}
    for i in range(reminders):
        due = now + timedelta(days=1 + i % 6, hours=3)
        made["reminders"].append(DisputeFactory(payment=payment, internal_due_at=due, due_at=due + timedelta(days=2)))
    for i in range(overdue):
        made["overdue"].append(DisputeFactory(payment=payment, internal_due_at=now - timedelta(hours=1 + i),
                                              due_at=now + timedelta(hours=40)))
    for i in range(past_due):
        made["past_due"].append(DisputeFactory(payment=payment, internal_due_at=now - timedelta(days=3),
                                               due_at=now - timedelta(hours=1 + i)))
    return made


def combined(*works):
    return {key: [d for work in works for d in work[key]] for key in works[0]}


def assert_everything_happened_once(made, leads):
    reminders = CaseAlert.objects.filter(kind="reminder")
    assert reminders.count() == len(made["reminders"])
    assert set(reminders.values_list("case_id", flat=True)) == {d.pk for d in made["reminders"]}
    # Past-due disputes are overdue too: escalated if a scan reached them before their expiry did.
    escalations = CaseAlert.objects.filter(kind="escalation")
    escalated = list(escalations.values_list("case_id", flat=True))
    assert len(escalated) == len(set(escalated))
    assert {d.pk for d in made["overdue"]} <= set(escalated) <= {d.pk for d in made["overdue"] + made["past_due"]}
    assert sorted(JournalEntry.objects.filter(transition="escalate").values_list("case_id", flat=True)) == sorted(
        escalated)
    alerts = len(made["reminders"]) + len(escalated)
    assert Notification.objects.count() == alerts * len(leads)
    assert OutboxEmail.objects.count() == alerts
    expired = JournalEntry.objects.filter(transition="expire")
    assert sorted(expired.values_list("case_id", flat=True)) == sorted(d.pk for d in made["past_due"])
    assert set(expired.values_list("actor_label", flat=True)) == {"system:celery"}
    assert Dispute.objects.filter(pk__in=[d.pk for d in made["past_due"]], state="expired").count() == len(
        made["past_due"])


def test_two_threads_running_every_scan_at_once_do_each_thing_once(lead, lead2):
    made = deadline_work()
    barrier = threading.Barrier(2)
    errors = []

    def scheduler():
        try:
            barrier.wait(timeout=20)
            for _ in range(2):
                send_deadline_reminders_now(limit=7)
                escalate_overdue_now(limit=3)
                expire_past_due_now(limit=4)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert_everything_happened_once(made, [lead, lead2])
    assert len(mail.outbox) == OutboxEmail.objects.filter(sent_at__isnull=False).count() == OutboxEmail.objects.count()
    assert len({(m.subject, tuple(m.to)) for m in mail.outbox}) == len(mail.outbox)


# ---------------------------------------------------------------- two scheduler processes

DEADLINE_TASKS = ("disputes.send_deadline_reminders", "disputes.escalate_overdue", "disputes.expire_past_due")
ROUNDS = 3  # scheduling rounds each process runs after each wave of work


def stuck_refunds(count=3):
    """Approved refunds whose submission never happened (the broker was down): the sweep's work."""
    refunds = [RefundFactory(payment=PaymentFactory(amount_minor=10000), state="approved", amount_minor=2500)
               for _ in range(count)]
    Refund.objects.filter(pk__in=[r.pk for r in refunds]).update(updated_at=timezone.now() - timedelta(hours=1))
    return refunds


def every_two_seconds(queue=None):
    """The default schedules every 2 s (so a test sees several rounds); every schedule on ``queue``."""
    fast, _ = IntervalSchedule.objects.get_or_create(every=2, period=IntervalSchedule.SECONDS)
    for task, _minutes in DEFAULT_SCHEDULES:
        PeriodicTask.objects.filter(name=task).update(interval=fast)
    if queue:
        PeriodicTask.objects.update(queue=queue)


def sent_by(process, task):
    """How many times this scheduler process sent (beat) or ran (in-process) ``task``: its log says so."""
    return process.output().count(f"schedule_due schedule={task} ")


def sends(processes):
    return [{task: sent_by(p, task) for task in DEADLINE_TASKS} for p in processes]


def rounds_done(processes, since=None):
    """Each scheduler process has sent every deadline task ``ROUNDS`` more times since ``since`` (a ``sends``),
    and every one of those sends has run to its end (``TaskRunStatus.runs``, stamped after each run)."""
    now = sends(processes)
    since = since or [dict.fromkeys(DEADLINE_TASKS, 0) for _ in processes]
    if any(now[i][task] < since[i][task] + ROUNDS for i in range(len(processes)) for task in DEADLINE_TASKS):
        return False
    ran = dict(TaskRunStatus.objects.values_list("task", "runs"))
    return all(ran.get(task, 0) >= sum(n[task] for n in now) for task in DEADLINE_TASKS)


def outputs(*processes):
    return "\n\n".join(p.output()[-3000:] for p in processes)


def test_two_celery_beats_by_mistake_send_every_task_twice_and_nothing_happens_twice(lead, lead2):
    first = deadline_work(reminders=12, overdue=6, past_due=6)
    refunds = stuck_refunds()
    queue = f"test-beats-{uuid.uuid4().hex[:8]}"
    every_two_seconds(queue)
    # A real worker (prefork, two processes: the two beats' copies of a task can run at the same time).
    worker = celery("worker", "-Q", queue, "-n", f"{queue}@localhost", "--pool=prefork", "--concurrency=2",
                    "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO",
                    env=product_env(settings="backoffice.settings.test", redis=True))
    beats = []
    try:
        assert wait_for(lambda: "ready." in worker.output(), timeout=90, processes=(worker,)), worker.output()
        env = product_env(redis=True, LOG_LEVEL="INFO", DEBUG="0")
        beats = [celery("beat", "--loglevel=INFO", "--pidfile=", env=env) for _ in range(2)]
        everyone = (worker, *beats)
        assert wait_for(lambda: SchedulerProcess.objects.filter(kind="beat").count() == 2, timeout=90,
                        processes=everyone), outputs(*everyone)
        assert any("2 schedulers are running" in w for w in health_report()["warnings"])
        assert wait_for(lambda: rounds_done(beats), timeout=180, processes=everyone), outputs(*everyone)
        # More work arrives while both beats run: the next rounds of both find it.
        before = sends(beats)
        second = deadline_work(reminders=6, overdue=3, past_due=3)
        assert wait_for(lambda: rounds_done(beats, before), timeout=180, processes=everyone), outputs(*everyone)
    finally:
        for beat in beats:
            beat.stop()
    try:
        # What the two beats sent is all done once the worker has drained the queue.
        made = combined(first, second)
        assert wait_for(lambda: not OutboxEmail.objects.filter(sent_at__isnull=True).exists()
                        and Dispute.objects.filter(pk__in=[d.pk for d in made["past_due"]], state="expired").count()
                        == len(made["past_due"]), timeout=120, processes=(worker,)), worker.output()[-3000:]
        assert_everything_happened_once(made, [lead, lead2])
        assert set(Refund.objects.filter(pk__in=[r.pk for r in refunds]).values_list("state", flat=True)) == {
            "succeeded"}
        assert SandboxRefund.objects.count() == len(refunds)  # one PSP refund each, however many sweeps sent it
    finally:
        worker.stop()


def test_two_in_process_runners_by_mistake_run_every_task_twice_and_nothing_happens_twice(lead, lead2):
    """The demo's runner (no REDIS_URL: the tasks run inside ``manage.py run_periodic --loop``), started twice."""
    first = deadline_work(reminders=12, overdue=6, past_due=6)
    refunds = stuck_refunds()
    every_two_seconds()
    env = product_env(LOG_LEVEL="INFO", DEBUG="0", EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
    runners = [manage("run_periodic", "--loop", "--every", "0.5", env=env) for _ in range(2)]
    try:
        assert wait_for(lambda: SchedulerProcess.objects.filter(kind="in-process").count() == 2, timeout=90,
                        processes=tuple(runners)), outputs(*runners)
        assert wait_for(lambda: rounds_done(runners), timeout=180, processes=tuple(runners)), outputs(*runners)
        before = sends(runners)
        second = deadline_work(reminders=6, overdue=3, past_due=3)
        assert wait_for(lambda: rounds_done(runners, before), timeout=180, processes=tuple(runners)), \
            outputs(*runners)
    finally:
        for runner in runners:
            runner.stop()
    assert_everything_happened_once(combined(first, second), [lead, lead2])
    assert OutboxEmail.objects.filter(sent_at__isnull=True).count() == 0
    assert set(Refund.objects.filter(pk__in=[r.pk for r in refunds]).values_list("state", flat=True)) == {"succeeded"}
    assert SandboxRefund.objects.count() == len(refunds)
