"""The demo as the README starts it (no REDIS_URL: ``manage.py run_periodic --loop`` beside
``manage.py runserver``), as processes: one scheduling round runs every schedule, reminders,
escalations and expiries happen, and /healthz is honest about it."""

import json
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from backoffice.accounts.services import api_token_issue
from backoffice.journal.models import JournalEntry
from backoffice.notifications.models import CaseAlert, Notification, TaskRunStatus
from disputes.models import Dispute
from tests.disputes.factories import DisputeFactory
from tests.integration.processes import free_port, manage, product_env, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def get(url, token=None):
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_one_scheduling_round_of_the_demo_runs_every_schedule_and_healthz_tells_the_truth(specialist, lead):
    now = timezone.now()
    assigned = DisputeFactory(assignee=specialist, internal_due_at=now + timedelta(days=2, hours=12),
                              due_at=now + timedelta(days=4, hours=12))
    unassigned = DisputeFactory(internal_due_at=now + timedelta(days=6), due_at=now + timedelta(days=8))
    overdue = DisputeFactory(internal_due_at=now - timedelta(hours=3), due_at=now + timedelta(hours=45))
    past_due = DisputeFactory(internal_due_at=now - timedelta(days=3), due_at=now - timedelta(hours=2))
    token = api_token_issue(user=lead)[1]
    enabled = list(PeriodicTask.objects.filter(enabled=True).values_list("name", flat=True))
    assert len(enabled) >= 6

    env = product_env()
    port = free_port()
    runner = manage("run_periodic", "--loop", "--every", "1", env=env)
    server = manage("runserver", f"127.0.0.1:{port}", "--noreload", env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: not PeriodicTask.objects.filter(enabled=True, last_run_at__isnull=True).exists()
                        and TaskRunStatus.objects.filter(last_succeeded_at__isnull=False).count() >= len(enabled),
                        timeout=90, processes=(runner,)), runner.output()[-3000:]

        def answers():
            try:
                return get(f"{base}/healthz")
            except OSError:
                return None
        assert wait_for(answers, timeout=60, processes=(server,)), server.output()[-3000:]
        assert get(f"{base}/healthz") == (200, {"ok": True})
        status, body = get(f"{base}/healthz", token)
        assert status == 200 and body["problems"] == [], body
        assert {s["name"] for s in body["schedules"]} == set(enabled)
        assert all(s["last_run_at"] and s["last_succeeded_at"] for s in body["schedules"])
        assert [s["kind"] for s in body["schedulers"]] == ["in-process"]

        reminders = dict(CaseAlert.objects.filter(kind="reminder").values_list("case_id", "offset_days"))
        assert reminders == {assigned.pk: 3, unassigned.pk: 7}
        # (case_type: the daily anomaly check may also tell the leads about today's unusual dispute inflow)
        about = Notification.objects.filter(case_type="dispute")
        assert about.filter(recipient=specialist, case_id=assigned.pk).count() == 1
        assert about.filter(recipient=lead, case_id=unassigned.pk).count() == 1
        assert about.filter(recipient=lead, case_id=overdue.pk, kind="escalation").count() == 1
        assert Dispute.objects.get(pk=overdue.pk).escalated_at is not None
        assert Dispute.objects.get(pk=past_due.pk).state == "expired"
        expiry = JournalEntry.objects.get(case_type="dispute", case_id=past_due.pk, transition="expire")
        assert expiry.actor_label == "system:celery"

        # An administrator mistypes a task name, and adds a schedule for a task that does not exist.
        row = PeriodicTask.objects.get(name="disputes.send_deadline_reminders")
        row.task = "disputes.send_deadline_reminder"
        row.save()
        PeriodicTask.objects.create(name="nightly report", task="reports.nightly",
                                    interval=IntervalSchedule.objects.get_or_create(every=1, period="minutes")[0])
        assert get(f"{base}/healthz") == (503, {"ok": False})
        status, body = get(f"{base}/healthz", token)
        assert status == 503
        assert any("'disputes.send_deadline_reminder'" in p for p in body["problems"]), body["problems"]
        assert any("'reports.nightly'" in p for p in body["problems"]), body["problems"]
        assert wait_for(lambda: TaskRunStatus.objects.filter(task="reports.nightly", unknown_count__gte=1).exists(),
                        timeout=30, processes=(runner,)), runner.output()[-3000:]
        assert "schedule_unknown_task schedule='nightly report' task='reports.nightly'" in runner.output()
    finally:
        runner.stop()
        server.stop()
