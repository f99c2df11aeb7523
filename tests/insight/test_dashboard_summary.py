"""The dashboard's summary table: the periodic task computes the default view, the page reads it.

The figures read back from the summary must equal the live computation on the same data (the
hand-built fixture of ``test_kpis``, whose own numbers are checked there), and the page must not
aggregate the case tables or the journal when a fresh summary exists.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from freezegun import freeze_time

from backoffice.insight import kpis
from backoffice.insight.models import DashboardSummary
from backoffice.insight.tasks import refresh_dashboard_task
from backoffice.scheduling import DEFAULT_SCHEDULES
from tests.disputes.factories import DisputeFactory
from tests.insight.test_kpis import NOW, fixture  # noqa: F401 - the hand-built fixture

pytestmark = pytest.mark.django_db


def test_the_summary_equals_the_live_figures_on_the_hand_built_fixture(fixture):  # noqa: F811
    with freeze_time(NOW):
        assert refresh_dashboard_task() == 1
        f = kpis.default_filters(now=NOW)
        summary = kpis.summary_read(f)
        live = kpis.dashboard_figures(f, now=NOW)
    assert summary is not None
    assert summary.pop("currencies") == kpis.currencies()
    assert summary == live
    # the default view of the fixture is not empty: these are real figures, not zeros
    assert sum(row["total"] for row in live["backlog"]) > 0 and live["receivables"]


def test_the_summary_of_another_view_or_an_old_one_is_not_used():
    DisputeFactory()
    now = timezone.now()
    refresh_dashboard_task()
    f = kpis.default_filters(now=now)
    assert kpis.summary_read(f, now=now) is not None
    assert kpis.summary_read(kpis.Filters(since=f.since, until=f.until, currency="EUR", tz=f.tz), now=now) is None
    assert kpis.summary_read(f, now=now + kpis.SUMMARY_MAX_AGE + timedelta(seconds=1)) is None


def _page_queries(client) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/dashboard/")
    assert response.status_code == 200
    return [q["sql"] for q in ctx.captured_queries]


def test_the_page_reads_the_summary_instead_of_aggregating(client, lead):
    dispute = DisputeFactory()
    client.force_login(lead)
    live = _page_queries(client)
    assert any("journal_journalentry" in sql for sql in live)  # handling times read the journal

    refresh_dashboard_task()
    from django.core.cache import cache

    cache.clear()
    summarised = _page_queries(client)
    assert any("insight_dashboardsummary" in sql for sql in summarised)
    assert not any("journal_journalentry" in sql for sql in summarised)
    assert not any("COUNT(" in sql.upper() and "disputes_dispute" in sql and "assignee" not in sql
                   for sql in summarised if "insight_dashboardsummary" not in sql)
    assert len(summarised) < len(live)
    html = client.get("/dashboard/").content.decode()
    assert "Open disputes" in html and dispute.currency in html


def test_the_refresh_is_scheduled_like_the_other_periodic_tasks():
    assert ("insight.refresh_dashboard", 5) in DEFAULT_SCHEDULES
    row = PeriodicTask.objects.get(name="insight.refresh_dashboard")
    assert row.enabled and row.task == "insight.refresh_dashboard" and row.interval.every == 5


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_scheduler_process_fills_the_summary():
    """Through the real entry point: ``manage.py run_periodic --force`` in its own process."""
    from tests.integration.processes import manage, product_env, wait_for

    DisputeFactory()
    runner = manage("run_periodic", "--force", env=product_env())
    try:
        assert wait_for(lambda: not runner.alive(), timeout=120), runner.output()[-3000:]
        assert runner.proc.returncode == 0, runner.output()[-3000:]
    finally:
        runner.stop()
    row = DashboardSummary.objects.get()
    f = kpis.default_filters(now=row.generated_at)
    assert row.key == kpis.summary_key(f)
    summary = kpis.summary_read(f, now=row.generated_at)
    summary.pop("currencies")
    live = kpis.dashboard_figures(f, now=row.generated_at)
    # The test settings register a test case type the product process does not have.
    product_types = {r["case_type"] for r in summary["backlog"]}
    live["backlog"] = [r for r in live["backlog"] if r["case_type"] in product_types]
    assert summary == live
    assert [r["total"] for r in summary["backlog"] if r["case_type"] == "dispute"] == [1]
