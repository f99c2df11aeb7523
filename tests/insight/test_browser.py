"""In a real browser: the auditor searches the journal with an inclusive date range, opens a linked
case, downloads the CSV and reads it, finds a refused attempt; the lead sees the dashboard's charts;
a specialist is refused /audit/."""

from __future__ import annotations

import csv
import io
import os
from datetime import timedelta

import pytest
from django.utils import timezone

from backoffice.cases.management.commands.seed_demo import seed_users

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def login(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)  # each role has its own landing page


def test_auditor_searches_opens_a_case_exports_and_finds_a_refusal(live_server, page):
    from django.contrib.auth import get_user_model

    from backoffice.errors import DomainError
    from disputes.models import Dispute
    from tests.disputes.factories import DisputeFactory

    seed_users()
    User = get_user_model()
    dispute = DisputeFactory(state="needs_response")
    Dispute.objects.filter(pk=dispute.pk).update(created_at=timezone.now() - timedelta(days=3))
    from backoffice.cases.registry import get_case_type

    with pytest.raises(DomainError):  # a specialist may not accept: refused and recorded
        get_case_type("disputes").transition(case_id=dispute.pk, name="accept",
                                             actor=User.objects.get(username="specialist"), reason="", data={})

    login(page, live_server, "auditor")
    page.goto(f"{live_server.url}/audit/")
    today = timezone.localdate().isoformat()
    page.fill("input[name=since]", today)
    page.fill("input[name=until]", today)  # one day, both ends included
    page.fill("input[name=actor]", "WEBHOOK")  # case-insensitive
    page.click("button.primary")
    rows = page.locator("table[data-table=journal] tbody tr")
    assert rows.count() == 1 and dispute.reference in rows.first.inner_text()

    with page.expect_download() as download_info:
        page.click("a[data-action=export]")
    body = open(download_info.value.path(), encoding="utf-8").read()
    exported = list(csv.DictReader(io.StringIO(body)))
    assert [r["case_reference"] for r in exported] == [dispute.reference]
    assert exported[0]["actor"] == "webhook:stripe" and len(exported[0]["hash"]) == 64
    assert exported[0]["context"].startswith("{")

    page.click("table[data-table=journal] a[data-case-link]")
    page.wait_for_url(f"{live_server.url}/disputes/{dispute.pk}/")
    assert dispute.reference in page.content()

    page.goto(f"{live_server.url}/audit/?kind=denied")
    page.fill("input[name=actor]", "Specialist")
    page.click("button.primary")
    refused = page.locator("table[data-table=denied] tbody tr")
    assert refused.count() == 1
    assert "accept" in refused.first.inner_text() and dispute.reference in refused.first.inner_text()


def test_lead_sees_the_dashboard_charts(live_server, page):
    from tests.disputes.factories import DisputeFactory

    seed_users()
    for state in ("needs_response", "won", "lost"):
        DisputeFactory(state=state)
    login(page, live_server, "lead")
    page.goto(f"{live_server.url}/dashboard/")
    for chart in ("chart-weekly", "chart-win", "chart-backlog"):
        svg = page.locator(f"svg[data-chart={chart}]")
        svg.wait_for()
        box = svg.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 50
        assert svg.locator("rect").count() > 1
    assert page.locator("table[data-figure=weekly] tbody tr").count() >= 1
    assert page.locator("[data-kpi=open_disputes]").inner_text() == "1"


def test_specialist_is_refused_the_audit_pages(live_server, page):
    seed_users()
    login(page, live_server, "specialist")
    response = page.goto(f"{live_server.url}/audit/")
    assert response.status == 403
    assert "Only team leads and auditors" in page.content()
