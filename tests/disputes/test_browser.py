"""A real browser (Debian's chromium via Playwright): a specialist uploads evidence and submits a dispute."""

from __future__ import annotations

import os

import pytest

from backoffice.cases.management.commands.seed_demo import seed_users
from disputes.models import Dispute

from .factories import DisputeFactory, usage_csv

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop in this thread


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_specialist_uploads_evidence_and_submits_the_dispute(live_server, page):
    seed_users()
    from django.contrib.auth import get_user_model

    specialist = get_user_model().objects.get(username="specialist")
    dispute = DisputeFactory(assignee=specialist)

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "specialist")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login" not in url)  # the landing page of the role
    page.goto(f"{live_server.url}/queues/mine/")
    page.click(f"a[href='/disputes/{dispute.pk}/']")
    page.wait_for_url(f"{live_server.url}/disputes/{dispute.pk}/")
    assert page.locator("[data-field=completeness]").inner_text() == "0%"

    form = page.locator("form.evidence-form")
    form.locator("select[name=kind]").select_option("usage_logs")
    form.locator("textarea[name=text]").fill("731.25 GPU-hours and 38 console logins after the charge.")
    form.locator("input[name=file]").set_input_files(
        {"name": "usage-november.csv", "mimeType": "text/csv", "buffer": usage_csv()})
    form.locator("button[type=submit]").click()
    page.wait_for_selector("text=Evidence added")
    assert page.locator("[data-field=completeness]").inner_text() == "50%"
    assert page.locator("tr[data-kind=usage_logs]").inner_text().count("usage-november.csv") == 1

    form = page.locator("form.evidence-form")
    form.locator("select[name=kind]").select_option("customer_communication")
    form.locator("textarea[name=text]").fill("Customer wrote on 3 Nov that the cluster works fine.")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("text=100%")

    submit = page.locator("form[data-transition=submit_evidence]")
    submit.locator("input[name=reason]").fill("Usage logs and the customer's e-mail attached.")
    submit.locator("button[type=submit]").click()

    page.wait_for_selector("h1 [data-state=under_review]")
    assert "Done: submit evidence" in page.locator(".messages").inner_text()
    assert "Usage logs and the customer's e-mail attached." in page.locator(".timeline").inner_text()
    assert page.locator("a[data-link=packet]").count() == 1
    assert Dispute.objects.get(pk=dispute.pk).state == "under_review"
