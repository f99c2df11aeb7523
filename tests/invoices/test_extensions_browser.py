"""A real browser: a specialist requests an extension from the form, a team lead approves it on the
extension page, and the invoice's due date moves."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from backoffice.cases.management.commands.seed_demo import seed_users
from invoices.models import Invoice, PaymentExtension, promise_deadline, utc_date

from .factories import InvoiceFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


def log_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login" not in url)  # the landing page of the role
    page.goto(f"{base_url}/queues/mine/")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_specialist_requests_an_extension_and_a_lead_approves_it(live_server, page):
    seed_users()
    invoice = InvoiceFactory(amount_minor=250000, number="INV-2026-009001")
    new_due = utc_date(invoice.due_at) + timedelta(days=30)

    log_in(page, live_server.url, "specialist")
    page.goto(f"{live_server.url}/extensions/new/")
    page.fill("input[name=number]", invoice.number)
    page.click("button:has-text('Find invoice')")
    expect(page.locator('[data-fact="amount_due"]')).to_contain_text("$2,500.00")
    expect(page.locator('[data-fact="due_date"]')).to_contain_text(utc_date(invoice.due_at).isoformat())
    page.fill("input[name=new_due_date]", new_due.isoformat())
    page.fill("textarea[name=reason]", "Customer's budget is released at the end of the month")
    page.click("button:has-text('Request extension')")
    page.wait_for_url(re.compile(r"/extensions/\d+/$"))
    expect(page.locator(".msg.success")).to_contain_text("30 days")
    expect(page.locator(".state")).to_have_text("Requested")
    expect(page.locator('form[data-transition="approve"]')).to_have_count(0)
    extension_url = page.url
    page.click("text=Log out")
    page.wait_for_url(f"{live_server.url}/accounts/login/")

    log_in(page, live_server.url, "lead")
    page.goto(extension_url)
    expect(page.locator('[data-fact="days_requested"]')).to_contain_text("30")
    expect(page.locator('[data-fact="limit_days"]')).to_contain_text("90 days")
    approve = page.locator('form[data-transition="approve"]')
    approve.locator("input[name=reason]").fill("Known customer, confirmed by phone")
    page.once("dialog", lambda dialog: dialog.accept())  # approving asks for confirmation first
    approve.locator("button[type=submit]").click()
    expect(page.locator(".msg.success")).to_contain_text("Done: approve.")
    expect(page.locator(".state")).to_have_text("Approved")
    expect(page.locator(".timeline")).to_contain_text("approve: requested → approved")

    extension = PaymentExtension.objects.get(invoice=invoice)
    assert (extension.state, extension.requester.username, extension.decided_by.username) == (
        "approved", "specialist", "lead")
    moved = Invoice.objects.get(pk=invoice.pk)
    assert moved.due_at == promise_deadline(new_due) and moved.dunning_paused
