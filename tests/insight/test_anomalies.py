"""The daily anomaly check: today so far against the same hours of the trailing 28 days; team leads
are told once; the schedule exists from the migration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from freezegun import freeze_time

from backoffice.insight.anomalies import detect_anomalies
from backoffice.notifications.models import Notification
from disputes.models import Dispute
from refunds.models import Refund
from tests.disputes.factories import reason
from tests.invoices.factories import PaymentFactory

NOW = datetime(2026, 5, 20, 15, 0, tzinfo=UTC)


def _disputes(payment, moments):
    code = reason("13.1")
    Dispute.objects.bulk_create([
        Dispute(payment=payment, amount_minor=100, currency="USD", network="visa", reason_code=code, psp="stripe",
                psp_dispute_id=f"dp_anomaly_{i}_{m:%m%d%H}", stage="chargeback", state="needs_response")
        for i, m in enumerate(moments)])
    ids = list(Dispute.objects.order_by("-id").values_list("id", flat=True)[:len(moments)])
    for pk, moment in zip(sorted(ids), moments, strict=True):
        Dispute.objects.filter(pk=pk).update(created_at=moment)


def _failed_refunds(payment, requester, moments):
    Refund.objects.bulk_create([
        Refund(payment=payment, amount_minor=10, currency="USD", reason="billing_error", requester=requester,
               state="failed", failed_at=m, failure_code="expired_card") for m in moments])


@pytest.fixture
def history(specialist):
    payment = PaymentFactory(amount_minor=1_000_000)
    days = [NOW.replace(hour=0) - timedelta(days=d) for d in range(1, 29)]
    # Every earlier day: 2 disputes before 15:00 and 1 after (outside the compared hours).
    _disputes(payment, [d + timedelta(hours=h) for d in days for h in (9, 10, 16)])
    # Refund failures before 15:00: 1 on odd days, 3 on even days (mean 2, standard deviation 1).
    _failed_refunds(payment, specialist, [d + timedelta(hours=8, minutes=m) for i, d in enumerate(days)
                                          for m in range(1 if i % 2 else 3)])
    # Today so far: 8 disputes (mean 2, deviation 0: unusual) and 4 failures (2 above the mean: within 3 σ).
    _disputes(payment, [NOW.replace(hour=9) + timedelta(minutes=i) for i in range(8)])
    _failed_refunds(payment, specialist, [NOW.replace(hour=11) + timedelta(minutes=i) for i in range(4)])


@pytest.mark.django_db
def test_only_the_unusual_figure_is_reported(history):
    found = detect_anomalies(now=NOW)
    assert [(a.key, a.today, a.mean, a.stdev, a.direction) for a in found] == [
        ("dispute_inflow", 8, 2.0, 0.0, "higher")]


@pytest.mark.django_db
def test_band_is_configurable(history, settings):
    settings.ANOMALY_BAND_SIGMAS = 1.5  # failures: 4 − 2 = 2 > 1.5 × 1 …
    settings.ANOMALY_MIN_CHANGE = 2  # … and at least 2 away from the mean
    assert {a.key for a in detect_anomalies(now=NOW)} == {"dispute_inflow", "refund_failures"}


@pytest.mark.django_db
def test_task_tells_every_team_lead_once(history, lead, lead2, specialist, django_capture_on_commit_callbacks):
    from django_celery_beat.models import PeriodicTask

    from backoffice.insight.tasks import detect_anomalies_task

    assert PeriodicTask.objects.get(name="insight.detect_anomalies").interval.period == "days"
    with freeze_time(NOW), django_capture_on_commit_callbacks(execute=True):
        assert detect_anomalies_task.apply().get() == 1
        assert detect_anomalies_task.apply().get() == 0  # the same day again: nothing new
    notes = Notification.objects.filter(kind="anomaly")
    assert sorted(n.recipient.username for n in notes) == ["lead1", "lead2"]
    assert "New disputes: 8 today so far, higher than usual" in notes[0].body
    assert len(mail.outbox) == 1 and sorted(mail.outbox[0].to) == ["lead1@example.test", "lead2@example.test"]
