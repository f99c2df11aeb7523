"""``manage.py seed_demo`` as ``make demo`` runs it, in a process: every case goes through the services
on a clock set to when each step happened, the journal verifies, a second run changes nothing, and the
data looks like a billing team's: cases over the last 90 days, dispute ratios per network well under
1 % (a few near the monitoring thresholds), some customers with a long history."""

from __future__ import annotations

import statistics
import subprocess
import sys
from datetime import timedelta

import pytest
from django.apps import apps
from django.db.models import Count, Min
from django.utils import timezone

from backoffice.insight.kpis import Filters, network_ratios
from backoffice.journal.models import JournalEntry
from disputes.models import Dispute, Network
from invoices.models import Customer, Invoice, PaymentExtension
from refunds.models import Refund
from tests.integration.processes import ROOT, product_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def manage(*args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=product_env(), capture_output=True,
                          text=True, timeout=3600, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    return output


def row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()
            if model._meta.managed and not model._meta.proxy}


def assert_created_over_the_last_90_days(model, *, now, weeks: int) -> None:
    created = sorted(model.objects.values_list("created_at", flat=True))
    assert created[0] >= now - timedelta(days=90), model
    # Not all in the same minute: spread over ``weeks`` distinct weeks at least.
    assert len({(now - at).days // 7 for at in created}) >= weeks, model


def assert_each_case_was_written_when_it_happened(model) -> None:
    """The first journal row of every chain is the service's own ``create``, stamped with the case's date
    (the same instant on the demo clock; the webhook deliveries the demo replays run on real time)."""
    created = dict(model.objects.values_list("pk", "created_at"))
    first_rows = JournalEntry.objects.filter(case_type=model.CASE_TYPE, seq=1).values_list("case_id", "transition",
                                                                                          "created_at")
    rows = {case_id: (transition, at) for case_id, transition, at in first_rows}
    assert set(rows) == set(created), model
    for pk, at in created.items():
        transition, journaled = rows[pk]
        assert transition == "create" and abs(journaled - at) < timedelta(seconds=1), (model, pk, journaled, at)


def test_make_demo_seeds_every_case_through_the_services_once_on_a_clock_of_the_last_90_days():
    first_run = manage("seed_demo")
    assert "Demo data ready" in first_run
    assert "stopped at" not in first_run  # no service refused a step of the demo's plan
    seeded = row_counts()
    last_row = JournalEntry.objects.order_by("-id").values_list("id", flat=True).first()

    manage("seed_demo")
    assert row_counts() == seeded
    assert JournalEntry.objects.order_by("-id").values_list("id", flat=True).first() == last_row
    assert "Journal intact" in manage("verify_journal")

    now = timezone.now()
    assert_created_over_the_last_90_days(Dispute, now=now, weeks=10)
    assert_created_over_the_last_90_days(Refund, now=now, weeks=10)
    assert_created_over_the_last_90_days(PaymentExtension, now=now, weeks=4)
    for model in (Dispute, Refund, PaymentExtension):
        assert_each_case_was_written_when_it_happened(model)
    # Decisions came after the requests, as people take them.
    for refund in Refund.objects.exclude(approved_at=None):
        assert refund.created_at < refund.approved_at <= now
    for dispute in Dispute.objects.exclude(resolved_at=None):
        assert dispute.created_at < dispute.resolved_at <= now

    # The dashboard's own ratio per network and month, over the last 90 days.
    rows = [row for row in network_ratios(Filters(since=(now - timedelta(days=90)).date(), until=now.date()),
                                          now=now) if row["transactions"]]
    assert {row["network"] for row in rows} == set(Network.values)
    near = [row for row in rows if row["program"] and row["ratio"] >= 0.8 * row["program"].threshold_percent]
    assert near, "some month is near a monitoring threshold"
    assert all(row["ratio"] < row["program"].threshold_percent for row in near)
    usual = [row["ratio"] for row in rows if row not in near]
    assert max(usual) < 1.0 and statistics.median(usual) < 0.6, usual

    # Some customers have been billed every month for years.
    long = (Invoice.objects.values("customer").annotate(n=Count("id"), first=Min("issued_at"))
            .filter(first__lt=now - timedelta(days=2 * 365), n__gte=24))
    assert long.count() >= 5
    assert Customer.objects.count() >= 2500
