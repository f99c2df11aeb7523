"""/metrics (Prometheus text, protected), the business-metric registry, the Grafana JSON, JSON logs."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from backoffice.insight.registry import business_metric, registered_metrics
from tests.backoffice.factories import make_ticket

ROOT = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def value(found: dict[str, list], name: str, **labels) -> float:
    matches = [s.value for s in found.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(matches) == 1, (name, labels, found.get(name))
    return matches[0]


@pytest.fixture
def business_data(specialist, lead):
    from tests.disputes.factories import DisputeFactory
    from tests.refunds.factories import RefundFactory

    now = timezone.now()
    DisputeFactory(network="visa", internal_due_at=now - timedelta(hours=2))
    DisputeFactory(network="visa", internal_due_at=now - timedelta(hours=1))
    DisputeFactory(network="mastercard", internal_due_at=now + timedelta(hours=30))
    RefundFactory(currency="EUR")


@pytest.mark.django_db
def test_metrics_parse_and_carry_the_business_metrics(client, business_data):
    client.get("/healthz")  # something for the request metrics to count
    response = client.get("/metrics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    found = samples(response.content.decode())
    assert value(found, "backoffice_open_cases", case_type="dispute", state="needs_response") == 3
    assert value(found, "backoffice_disputes_overdue", network="visa") == 2
    assert value(found, "backoffice_disputes_due_72h") == 1
    assert sum(s.value for s in found["backoffice_refunds_awaiting_approval"]) == 1
    assert "django_http_responses_total_by_status_total" in found
    assert "django_db_execute_total" in found
    families = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert {m.name for m in registered_metrics()} <= families
    assert {"backoffice_open_cases", "backoffice_disputes_overdue", "backoffice_refunds_awaiting_approval",
            "backoffice_refunds_failed", "backoffice_task_runs", "backoffice_task_failures",
            "backoffice_schedule_runs", "backoffice_case_alerts", "backoffice_webhook_deliveries"} <= families


@pytest.mark.django_db
def test_metrics_need_a_token_or_an_allowed_network(client, settings):
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["10.1.0.0/16", "not-a-network"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


@pytest.mark.django_db
def test_an_app_adds_a_metric_and_a_broken_one_is_reported_not_fatal(client):
    from django.db import DatabaseError

    @business_metric("backoffice_test_widgets", "Widgets, for the registry test.", labels=("colour",))
    def widgets():
        return [(("blue",), 4)]

    @business_metric("backoffice_test_broken", "Always fails.")
    def broken():
        raise DatabaseError("relation does not exist")

    try:
        found = samples(client.get("/metrics").content.decode())
        assert value(found, "backoffice_test_widgets", colour="blue") == 4
        assert value(found, "backoffice_metric_errors", metric="backoffice_test_broken") == 1
    finally:
        from backoffice.insight import registry

        registry._METRICS.pop("backoffice_test_widgets")
        registry._METRICS.pop("backoffice_test_broken")


@pytest.mark.django_db(transaction=True)
def test_metrics_through_the_running_server(live_server, business_data):
    with urllib.request.urlopen(f"{live_server.url}/metrics", timeout=30) as response:
        found = samples(response.read().decode())
    assert value(found, "backoffice_open_cases", case_type="dispute", state="needs_response") == 3


@pytest.mark.django_db
def test_grafana_dashboard_queries_name_only_exported_metrics(client, business_data):
    client.get("/healthz")
    text = client.get("/metrics").content.decode()
    declared = set(re.findall(r"^# TYPE (\S+) ", text, flags=re.M))
    exported = set(samples(text)) | declared | {name + "_total" for name in declared}
    exported |= {name + suffix for name in declared for suffix in ("_bucket", "_count", "_sum")}
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    named = {m for e in exprs for m in re.findall(r"\b((?:backoffice|django)_[a-z0-9_]+)\b", e)}
    assert named and named <= exported, named - exported
    assert {"backoffice_open_cases", "backoffice_disputes_overdue", "backoffice_refunds_awaiting_approval",
            "backoffice_task_runs_total", "backoffice_case_alerts_total"} <= named


@pytest.mark.django_db
def test_task_runs_and_failures_are_counted(client):
    from celery import current_app

    @current_app.task(name="tests.insight.fails_once")
    def flaky(fail: bool):
        if fail:
            raise ValueError("boom")

    flaky.apply(args=[False])
    with pytest.raises(ValueError):
        flaky.apply(args=[True])
    found = samples(client.get("/metrics").content.decode())
    assert value(found, "backoffice_task_runs_total", task="tests.insight.fails_once") == 2
    assert value(found, "backoffice_task_failures_total", task="tests.insight.fails_once") == 1


@pytest.mark.django_db
def test_json_log_lines_carry_request_user_case_and_task(client, specialist):
    from celery import current_app
    from django.conf import settings
    from pythonjsonlogger.json import JsonFormatter

    from backoffice.insight.logs import ContextFilter

    config = settings.LOGGING["formatters"]["json"]
    stream = __import__("io").StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(config["fmt"], rename_fields=config["rename_fields"]))
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("backoffice")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        ticket = make_ticket(requester=specialist)
        client.force_login(specialist)
        client.post(f"/cases/tickets/{ticket.pk}/transition/finish/", HTTP_X_REQUEST_ID="req-123")

        @current_app.task(name="tests.insight.logs_something")
        def logs_something():
            logging.getLogger("backoffice.tasks").warning("inside the task")

        logs_something.apply()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    denied = next(line for line in lines if line["message"].startswith("action_denied"))
    assert denied["request_id"] == "req-123" and denied["user"] == "spec1"
    assert denied["case_reference"] == ticket.reference and denied["level"] == "INFO"
    task_line = next(line for line in lines if line["message"] == "inside the task")
    assert task_line["task"] == "tests.insight.logs_something" and task_line["logger"] == "backoffice.tasks"


def test_log_format_setting_switches_the_console_to_json():
    code = ("import logging, django; django.setup(); "
            "logging.getLogger('backoffice.x').warning('hello', extra={'case_reference': 'DSP-000001'})")
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "backoffice.settings.local", "LOG_FORMAT": "json"}
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    line = json.loads(run.stderr.strip().splitlines()[-1])
    assert line["message"] == "hello" and line["logger"] == "backoffice.x" and line["case_reference"] == "DSP-000001"
