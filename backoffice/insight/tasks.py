"""Periodic work of the insight app (schedule created by migration ``insight.0003``)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from .anomalies import detect_anomalies, notify_anomalies

logger = logging.getLogger("backoffice.tasks")


@shared_task(name="insight.detect_anomalies")
def detect_anomalies_task() -> int:
    """Compare today so far with the trailing four weeks; notify team leads of what stands out."""
    now = timezone.now()
    anomalies = detect_anomalies(now=now)
    sent = notify_anomalies(anomalies=anomalies, now=now)
    for anomaly in anomalies:
        logger.info("anomaly %s", anomaly.describe())
    return sent


@shared_task(name="insight.refresh_dashboard")
def refresh_dashboard_task() -> int:
    """Compute the dashboard's default view into the summary table the page reads."""
    from .kpis import summary_refresh

    return len(summary_refresh())
