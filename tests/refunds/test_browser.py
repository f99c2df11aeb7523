"""A real browser: a team lead approves a specialist's refund from the approvals queue and sees it succeed."""

import os

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from backoffice.cases.management.commands.seed_demo import seed_users

from .factories import request_refund

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_lead_approves_a_specialists_refund_from_the_approvals_queue(live_server, page):
    seed_users()
    specialist = get_user_model().objects.get(username="specialist")
    refund = request_refund(requester=specialist, amount_minor=2500, note="Charged twice for March")

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "lead")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login" not in url)  # the landing page of the role
    page.goto(f"{live_server.url}/queues/mine/")

    page.click("nav.mainnav a[data-nav=approvals]")
    page.click("nav.tabs >> text=Refunds")
    row = page.locator(f"tr[data-reference='{refund.reference}']")
    expect(row).to_contain_text("$25.00")
    expect(row).to_contain_text("specialist")
    row.locator(f"a:has-text('{refund.reference}')").click()
    page.wait_for_url(f"{live_server.url}/refunds/{refund.pk}/")
    expect(page.locator(".case-head .state")).to_have_attribute("data-state", "pending_approval")

    approve = page.locator("form[data-transition=approve]")
    approve.locator("input[name=reason]").fill("Duplicate capture confirmed in the PSP dashboard")
    page.once("dialog", lambda dialog: dialog.accept())  # approving asks for confirmation first
    approve.locator("button[type=submit]").click()

    page.wait_for_url(f"{live_server.url}/refunds/{refund.pk}/")
    expect(page.locator(".case-head .state")).to_have_attribute("data-state", "succeeded")
    expect(page.locator(".msg.success")).to_contain_text("approve")
    expect(page.locator(".approvals")).to_contain_text("Duplicate capture confirmed in the PSP dashboard")
    expect(page.locator("[data-credit-note]")).to_be_visible()
    expect(page.locator("form[data-transition]")).to_have_count(0)

    page.goto(f"{live_server.url}/queues/approvals/?type=refunds")
    expect(page.locator(f"tr[data-reference='{refund.reference}']")).to_have_count(0)
