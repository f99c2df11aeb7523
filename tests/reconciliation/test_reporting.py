"""Reconciliation on the dashboard (through the registry hook) and break aging in /metrics."""

from __future__ import annotations

import io
from datetime import timedelta

from django.utils import timezone

from reconciliation.imports import settlement_import
from reconciliation.models import Break
from tests.insight.test_telemetry import samples, value

from .factories import report, scenario


def imported(lead):
    s = scenario("stripe")
    job = settlement_import(psp="stripe", binary=io.BytesIO(report("stripe", s.items, payout_delta_minor=123)),
                            file_name="stripe-nov.csv", actor=lead, source="test")
    # One break found 10 days ago, for the aging.
    Break.objects.filter(kind="not_settled").update(created_at=timezone.now() - timedelta(days=10))
    return s, job


def test_dashboard_shows_match_rate_and_aging(client, lead):
    s, job = imported(lead)
    client.force_login(lead)
    page = client.get("/dashboard/").content.decode()
    assert 'data-section="reconciliation_match"' in page and 'data-section="reconciliation_aging"' in page
    assert "stripe-nov.csv" in page and f"{job.match_rate} %" in page
    csv = client.get("/dashboard/reconciliation_aging.csv").content.decode().splitlines()
    assert csv[0].startswith("currency,0–2 days,3–7 days,8–30 days")
    usd = next(line for line in csv if line.startswith("USD"))
    assert "1 · $100.00" in usd  # the not_settled break, 10 days old, in 8–30


def test_metrics_carry_break_aging(client, lead):
    s, _ = imported(lead)
    found = samples(client.get("/metrics").content.decode())
    usd_breaks = len(s.planted)  # all in USD (a currency mismatch is in the payment's currency)
    assert value(found, "backoffice_reconciliation_open_breaks", currency="USD", age="8-30") == 1
    assert value(found, "backoffice_reconciliation_open_breaks", currency="USD", age="0-2") == usd_breaks - 1
    assert value(found, "backoffice_reconciliation_open_break_amount_minor", currency="USD", age="8-30") == 10_000
