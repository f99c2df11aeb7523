"""/healthz: ok or 503 with the reason; the details only for staff users and API tokens."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from freezegun import freeze_time

from backoffice.notifications.models import SchedulerProcess, TaskRunStatus

pytestmark = pytest.mark.django_db


def all_ran(at=None):
    """Every enabled schedule succeeded at ``at`` (now), as a scheduler that is running would leave it."""
    at = at or timezone.now()
    PeriodicTask.objects.update(last_run_at=at)
    for task in PeriodicTask.objects.filter(enabled=True).values_list("task", flat=True):
        TaskRunStatus.objects.update_or_create(task=task, defaults={"scheduled_since": at - timedelta(days=1),
                                                                   "last_succeeded_at": at, "runs": 1})
    SchedulerProcess.objects.create(ident="test:1", kind="beat", started_at=at - timedelta(days=1), last_seen_at=at)


def test_anonymous_callers_get_only_ok_and_the_status(client):
    all_ran()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert response["Cache-Control"] == "no-store"


def test_staff_users_and_api_tokens_see_the_details(client, api, superuser_lead, specialist):
    all_ran()
    client.force_login(superuser_lead)
    body = client.get("/healthz").json()
    assert body["ok"] is True and body["database"]["ok"] is True and body["broker"]["ok"] is True
    assert {s["task"] for s in body["schedules"]} >= {"disputes.send_deadline_reminders", "disputes.expire_past_due"}
    assert body["problems"] == []

    token_body = api(specialist).get("/healthz").json()
    assert token_body["schedules"] == body["schedules"]

    client.force_login(specialist)  # a session without staff status: only ok
    assert client.get("/healthz").json() == {"ok": True}
    assert api().get("/healthz", HTTP_AUTHORIZATION="Token not-a-token").json() == {"ok": True}


def test_a_schedule_naming_an_unknown_task_is_503_and_named(client, api, lead):
    all_ran()
    PeriodicTask.objects.filter(name="disputes.escalate_overdue").update(task="disputes.escalate_overdu")
    anonymous = client.get("/healthz")
    assert anonymous.status_code == 503 and anonymous.json() == {"ok": False}
    detailed = api(lead).get("/healthz")
    assert detailed.status_code == 503
    body = detailed.json()
    assert any("'disputes.escalate_overdu'" in p and "unknown task" in p for p in body["problems"]), body["problems"]
    row = next(s for s in body["schedules"] if s["name"] == "disputes.escalate_overdue")
    assert row["known_task"] is False


def test_a_schedule_that_has_not_run_for_three_intervals_is_503_after_the_grace_period(api, lead):
    start = timezone.now()
    all_ran(start)
    TaskRunStatus.objects.filter(task="disputes.expire_past_due").update(last_succeeded_at=start - timedelta(hours=1))
    SchedulerProcess.objects.update(started_at=start - timedelta(hours=2))
    with freeze_time(start + timedelta(minutes=1)):
        response = api(lead).get("/healthz")
    assert response.status_code == 503
    problems = response.json()["problems"]
    assert len(problems) == 1 and "'disputes.expire_past_due'" in problems[0] and "3 × 300 s" in problems[0]

    # A scheduler that has just started gets three intervals to catch up before it counts as late.
    SchedulerProcess.objects.create(ident="test:2", kind="beat", started_at=start, last_seen_at=start)
    with freeze_time(start + timedelta(minutes=14)):
        assert api(lead).get("/healthz").status_code == 200
    with freeze_time(start + timedelta(minutes=16)):
        assert api(lead).get("/healthz").status_code == 503


def test_beat_sending_while_no_worker_runs_anything_is_late(api, lead):
    """last_run_at is the scheduler's stamp (sent); lateness counts from the task's own success."""
    start = timezone.now()
    all_ran(start - timedelta(days=4))  # more than 3 intervals of every default schedule (the longest: daily)
    PeriodicTask.objects.update(last_run_at=start)
    SchedulerProcess.objects.update(last_seen_at=start)
    response = api(lead).get("/healthz")
    assert response.status_code == 503
    problems = " ".join(response.json()["problems"])
    from backoffice.scheduling import DEFAULT_SCHEDULES

    assert all(f"schedule {name!r}" in problems for name, _ in DEFAULT_SCHEDULES), problems


def test_an_unreachable_broker_is_503(client, settings):
    all_ran()
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json() == {"ok": False}
