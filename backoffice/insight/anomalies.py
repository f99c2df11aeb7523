"""Anomalies a team lead should hear about: today's refund failures, dispute inflow and refund
approval latency against the same hours of each of the trailing 28 days.

"Today so far" is compared like for like: if the check runs at 15:00 UTC, each of the 28 earlier
days contributes its 00:00–15:00 UTC figure. A figure is unusual when it lies outside
mean ± ``ANOMALY_BAND_SIGMAS`` standard deviations of those days *and* differs from the mean by at
least ``ANOMALY_MIN_CHANGE`` (failures, disputes or hours), so a quiet queue does not page anyone.
Each unusual figure notifies every team lead once a day (in-app and e-mail).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.apps import apps
from django.conf import settings
from django.utils import timezone

from .kpis import percentile

TRAILING_DAYS = 28


@dataclass(frozen=True)
class Check:
    key: str
    alert_id: int  # stable id for the once-a-day alert claim
    label: str
    unit: str
    measure: Callable[[datetime, datetime], float | None]


@dataclass(frozen=True)
class Anomaly:
    key: str
    label: str
    today: float
    mean: float
    stdev: float
    direction: str
    unit: str

    def describe(self) -> str:
        return (f"{self.label}: {self.today:g}{self.unit} today so far, {self.direction} than usual "
                f"(the same hours of the last {TRAILING_DAYS} days average {self.mean:.1f}{self.unit}, "
                f"standard deviation {self.stdev:.1f}{self.unit}).")


def _refund_failures(start: datetime, end: datetime) -> float:
    Refund = apps.get_model("refunds", "Refund")
    return Refund.objects.filter(failed_at__gte=start, failed_at__lt=end).count()


def _dispute_inflow(start: datetime, end: datetime) -> float:
    Dispute = apps.get_model("disputes", "Dispute")
    return Dispute.objects.filter(created_at__gte=start, created_at__lt=end).count()


def _approval_latency(start: datetime, end: datetime) -> float | None:
    Refund = apps.get_model("refunds", "Refund")
    rows = Refund.objects.filter(approved_at__gte=start, approved_at__lt=end).values_list("created_at", "approved_at")
    hours = [(approved - created).total_seconds() / 3600 for created, approved in rows]
    median = percentile(hours, 0.5)
    return round(median, 2) if median is not None else None


CHECKS = (
    Check("refund_failures", 1, "Refund failures", "", _refund_failures),
    Check("dispute_inflow", 2, "New disputes", "", _dispute_inflow),
    Check("approval_latency", 3, "Median refund approval latency", " h", _approval_latency),
)


def detect_anomalies(*, now: datetime | None = None) -> list[Anomaly]:
    now = now or timezone.now()
    midnight = datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)
    elapsed = now - midnight
    band, floor = settings.ANOMALY_BAND_SIGMAS, settings.ANOMALY_MIN_CHANGE
    found = []
    for check in CHECKS:
        today = check.measure(midnight, now)
        history = [check.measure(midnight - timedelta(days=d), midnight - timedelta(days=d) + elapsed)
                   for d in range(1, TRAILING_DAYS + 1)]
        history = [h for h in history if h is not None]
        if today is None or len(history) < 7:
            continue
        mean = statistics.fmean(history)
        stdev = statistics.pstdev(history)
        change = today - mean
        if abs(change) > band * stdev and abs(change) >= floor:
            found.append(Anomaly(check.key, check.label, today, mean, stdev,
                                 "higher" if change > 0 else "lower", check.unit))
    return found


def notify_anomalies(*, anomalies: list[Anomaly], now: datetime) -> int:
    """Tell every team lead, once per figure per day. Returns how many alerts were new."""
    from backoffice.notifications.services import alert_claim_and_notify, team_leads

    midnight = datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)
    leads = team_leads()
    ids = {c.key: c.alert_id for c in CHECKS}
    sent = 0
    for anomaly in anomalies:
        alert = alert_claim_and_notify(
            case_type="insight", case_id=ids[anomaly.key], case_reference=anomaly.key[:32], kind="anomaly",
            due_at=midnight, offset_days=0, recipients=leads, title=f"Unusual today: {anomaly.label.lower()}",
            body=anomaly.describe(), url="/dashboard/")
        sent += alert is not None
    return sent
