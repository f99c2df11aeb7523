"""/dashboard/ as a page: filters with form errors, charts with their tables, CSV per figure, tiles
that link to the queue showing the same cases, bulk reassign from the workload list."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from disputes.models import Dispute
from tests.disputes.factories import DisputeFactory


@pytest.mark.django_db
def test_dashboard_renders_charts_tables_and_definitions(client, lead):
    DisputeFactory(state="needs_response", internal_due_at=timezone.now() - timedelta(hours=3))
    client.force_login(lead)
    html = client.get("/dashboard/").content.decode()
    for chart in ("chart-weekly", "chart-win", "chart-backlog", "chart-ratio-visa"):
        assert f'data-chart="{chart}"' in html
    assert 'data-definition="win-rate"' in html and "won ÷ (won + lost)" in html
    assert 'data-figure="amounts"' in html and "never summed across currencies" in html
    assert "<script>" not in html and " onclick=" not in html


@pytest.mark.django_db
def test_open_tile_counts_what_its_queue_lists(client, lead):
    for state in ("inquiry", "needs_response", "under_review", "won"):
        DisputeFactory(state=state)
    client.force_login(lead)
    html = client.get("/dashboard/").content.decode()
    assert 'data-kpi="open_disputes">3<' in html  # inquiry, needs response, under review; not won
    link = html.split('data-kpi="open_disputes"')[0].rsplit('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    queue = client.get(link).content.decode()
    assert queue.count('data-state="') == 3


@pytest.mark.django_db
@pytest.mark.parametrize("query, field", [("since=yesterday", "since"), ("until=9999-12-31", "until"),
                                          ("since=2026-05-02&until=2026-05-01", "until"), ("currency=EURO", "currency"),
                                          ("since=2020-01-01&until=2026-01-01", "since")])
def test_bad_filters_are_form_errors(client, lead, query, field):
    client.force_login(lead)
    response = client.get(f"/dashboard/?{query}")
    assert response.status_code == 400 and f'data-error="{field}"' in response.content.decode()
    assert client.get(f"/dashboard/weekly.csv?{query}").status_code == 400


@pytest.mark.django_db
def test_every_table_downloads_as_csv(client, lead):
    d = DisputeFactory(state="needs_response", currency="EUR", amount_minor=12_345)
    client.force_login(lead)
    html = client.get("/dashboard/").content.decode()
    names = {part.split('"', 1)[0] for part in html.split('data-csv="')[1:]}
    assert {"weekly", "win_network", "win_category", "amounts", "ratios", "refund_volume", "refund_times",
            "refund_failures", "extensions", "deferred", "handling_type", "handling_person", "backlog",
            "receivables"} <= names
    today = timezone.localdate()
    response = client.get(f"/dashboard/amounts.csv?since={today - timedelta(days=7)}&until={today}&currency=EUR")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][0] == "currency" and rows[1][:2] == ["EUR", "1"] and "123.45" in rows[1][2]
    assert client.get("/dashboard/nothing.csv").status_code == 404
    assert d.pk


@pytest.mark.django_db
def test_bulk_reassign_from_the_workload_list(client, lead, specialist, specialist2):
    due = DisputeFactory(state="needs_response", assignee=specialist,
                         internal_due_at=timezone.now() - timedelta(hours=1))
    client.force_login(lead)
    html = client.get("/dashboard/").content.decode()
    assert 'data-bulk="disputes"' in html and f'value="{due.pk}"' in html
    client.post("/queues/overdue/bulk/", {"type": "disputes", "action": "assign", "ids": [due.pk],
                                          "assignee": specialist2.pk})
    assert Dispute.objects.get(pk=due.pk).assignee == specialist2


@pytest.mark.django_db
def test_specialists_see_no_reassign_and_strangers_nothing(client, specialist, django_user_model):
    DisputeFactory(state="needs_response", internal_due_at=timezone.now() - timedelta(hours=1))
    client.force_login(specialist)
    html = client.get("/dashboard/").content.decode()
    assert 'data-workload="dispute"' in html and "data-bulk=" not in html
    nobody = django_user_model.objects.create_user("nobody", password="pw")
    client.force_login(nobody)
    assert client.get("/dashboard/").status_code == 404


@pytest.mark.django_db
def test_sla_targets_are_set_in_the_admin_and_journaled(client, superuser_lead, lead):
    from backoffice.insight.models import SlaTarget
    from backoffice.journal.models import JournalEntry

    client.force_login(superuser_lead)
    target = SlaTarget.objects.get(case_type="refund")
    response = client.post(f"/admin/insight/slatarget/{target.pk}/change/",
                           {"case_type": "refund", "first_response_minutes": 45, "handle_minutes": 600})
    assert response.status_code == 302
    assert SlaTarget.objects.filter(case_type="refund", first_response_minutes=45, handle_minutes=600).exists()
    entry = JournalEntry.objects.get(case_type="sla_target")
    assert (entry.actor_label, entry.target_state) == ("root1", "45/600")
    client.force_login(lead)
    assert client.post(f"/admin/insight/slatarget/{target.pk}/change/", {}).status_code in (302, 403)
    assert SlaTarget.objects.get(case_type="refund").first_response_minutes == 45
