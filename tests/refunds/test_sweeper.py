"""Broker down at approval: the approval commits within seconds; the sweeper sends the refund once later."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from kombu import Connection

from backoffice.celery import app
from backoffice.gateway.models import SandboxRefund
from refunds.models import Refund
from refunds.services import refund_approve
from refunds.tasks import submit_refund, sweep_processing
from tests.refunds.factories import request_refund


@pytest.fixture
def broker_down(monkeypatch):
    """Publishing goes to a Redis address where nothing listens (a real connection attempt, refused)."""

    def publish_to_nowhere(*args, **kwargs):
        with Connection("redis://127.0.0.1:1/0", connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)

    monkeypatch.setitem(app.conf, "task_always_eager", False)
    monkeypatch.setattr(submit_refund, "apply_async", publish_to_nowhere)


@pytest.mark.django_db
def test_approval_commits_quickly_with_the_broker_down_and_the_sweeper_sends_it_once(
        specialist, lead, commit, broker_down, settings, monkeypatch):
    refund = request_refund(requester=specialist, amount_minor=2500)
    started = time.monotonic()
    with commit():
        refund_approve(refund=refund, actor=lead, reason="duplicate charge confirmed")
    elapsed = time.monotonic() - started
    assert elapsed < 5, elapsed
    assert Refund.objects.get(pk=refund.pk).state == "approved"

    # The broker is back (in-process here) and the sweep interval has passed.
    monkeypatch.undo()
    settings.REFUND_SWEEP_AFTER_MINUTES = 0
    Refund.objects.filter(pk=refund.pk).update(updated_at=timezone.now() - timedelta(minutes=1))
    assert sweep_processing.apply().get() == 1
    assert Refund.objects.get(pk=refund.pk).state == "succeeded"
    assert sweep_processing.apply().get() == 0
    assert SandboxRefund.objects.count() == 1
