"""A day's work in a real browser (Debian's chromium), as the people who do it.

A specialist finds a customer by e-mail, refunds part of a payment from the customer page, sends the
form again and gets no second refund, then works a dispute: uploads a PDF, sees it merged into the
packet (read back with pypdf), submits. A lead approves three refunds at once and sees each result.
An auditor lands on the audit page. Every page visited passes axe-core's WCAG A/AA rules with no
serious violation and logs no console error; at 390 px the queue and case pages never scroll sideways.
"""

from __future__ import annotations

import io
import os

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect
from pypdf import PdfReader

from backoffice.cases.management.commands.seed_demo import seed_users
from backoffice.pdf import render_pdf
from disputes.models import Dispute
from refunds.models import Refund
from tests.browser import assert_accessible, horizontal_overflow, log_in, new_watched_page
from tests.disputes.factories import DisputeFactory, reason
from tests.invoices.factories import CustomerFactory, PaymentFactory
from tests.refunds.factories import request_refund

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def pdf_pages(data: bytes) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]


def test_a_specialists_day_search_refund_from_the_customer_then_a_dispute_packet(live_server, browser):
    seed_users()
    customer = CustomerFactory(name="Tengri Cloud LLP", email="ap@tengri-cloud.example", country="KZ",
                               default_currency="KZT")
    payment = PaymentFactory(invoice__customer=customer, currency="KZT", amount_minor=41124493,
                             psp_reference="ch_3TengriNov")
    disputed = PaymentFactory(invoice__customer=customer, amount_minor=25000, psp_reference="ch_3TengriOct")
    dispute = DisputeFactory(payment=disputed, reason_code=reason("13.1"), assignee=None)
    watched = new_watched_page(browser)
    page = watched.page

    log_in(page, live_server.url, "specialist")
    expect(page).to_have_url(f"{live_server.url}/queues/due-soon/")
    page.keyboard.press("/")  # the search shortcut
    expect(page.locator("#global-search")).to_be_focused()
    page.keyboard.type("ap@tengri-cloud.example")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search/?q=*")
    assert_accessible(page, context="search results")
    page.click(f"[data-results=customers] a[href='/customers/{customer.pk}/']")
    page.wait_for_url(f"{live_server.url}/customers/{customer.pk}/")
    expect(page.locator("[data-balance]").first).to_be_visible()
    assert_accessible(page, context="customer page")

    page.click(f"tr[data-payment-id='{payment.pk}'] a[data-action=refund]")
    page.wait_for_url(f"**/refunds/new/?payment={payment.pk}")
    assert_accessible(page, context="refund form")
    page.fill("input[name=amount]", "100000.50")  # part of ₸411,244.93
    page.select_option("select[name=reason]", "service_outage")
    page.fill("textarea[name=note]", "Two days of GPU outage in November, credited per the SLA.")
    page.click("form.refund-form button[type=submit]")
    page.wait_for_url("**/refunds/*/")
    refund = Refund.objects.get(payment=payment)
    assert refund.amount_minor == 10000050 and refund.state == "pending_approval"
    assert_accessible(page, context="refund page")

    page.go_back()  # Back to the filled form, and send it again
    page.wait_for_url(f"**/refunds/new/?payment={payment.pk}")
    if not page.locator("input[name=amount]").input_value():  # a browser may reload the form empty
        page.fill("input[name=amount]", "100000.50")
        page.select_option("select[name=reason]", "service_outage")
    page.click("form.refund-form button[type=submit]")
    page.wait_for_load_state()
    assert Refund.objects.filter(payment=payment).count() == 1  # the same request, or a question first
    expect(page.locator("[data-warning=possible_duplicate], .msg.info").first).to_be_visible()

    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    page.click(f"[data-section=disputes] a[href='/disputes/{dispute.pk}/']")
    page.wait_for_url(f"{live_server.url}/disputes/{dispute.pk}/")
    page.click("button[data-action=claim]")
    page.wait_for_url(f"{live_server.url}/disputes/{dispute.pk}/")
    report = render_pdf("<p>GPU usage November: 731.25 GPU-hours, 38 console logins after the charge.</p>")
    form = page.locator("form.evidence-form")
    form.locator("select[name=kind]").select_option("usage_logs")
    form.locator("input[name=file]").set_input_files(
        {"name": "usage-november.pdf", "mimeType": "application/pdf", "buffer": report})
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/disputes/{dispute.pk}/")
    expect(page.locator("[data-file='usage-november.pdf']")).to_be_visible()
    preview = page.request.get(f"{live_server.url}/disputes/{dispute.pk}/packet.pdf?preview=1")
    pages = pdf_pages(preview.body())
    assert "731.25 GPU-hours" in pages[-1] and "Appendix 1" in "\n".join(pages[:-1])

    form = page.locator("form.evidence-form")
    form.locator("select[name=kind]").select_option("customer_communication")
    form.locator("textarea[name=text]").fill("Ticket #4411: the customer confirmed the jobs ran.")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/disputes/{dispute.pk}/")
    assert_accessible(page, context="dispute page")
    submit = page.locator("form[data-transition=submit_evidence]")
    submit.locator("input[name=reason]").fill("Usage logs and correspondence attached")
    submit.locator("button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/disputes/{dispute.pk}/")
    expect(page.locator(".case-head .state")).to_have_attribute("data-state", "under_review")
    dispute = Dispute.objects.get(pk=dispute.pk)
    with dispute.packet.open("rb") as handle:
        submitted = pdf_pages(handle.read())
    assert "731.25 GPU-hours" in submitted[-1]
    watched.assert_no_console_errors()


def test_a_lead_approves_three_refunds_at_once_and_sees_each_result(live_server, browser):
    seed_users()
    specialist = get_user_model().objects.get(username="specialist")
    refunds = [request_refund(requester=specialist, amount_minor=1200 + i) for i in range(3)]
    watched = new_watched_page(browser)
    page = watched.page

    log_in(page, live_server.url, "lead")
    expect(page).to_have_url(f"{live_server.url}/queues/approvals/")
    page.click("nav.tabs a:has-text('Refunds')")
    assert_accessible(page, context="approvals queue")
    page.check("#queue-table thead input[type=checkbox]")  # select all
    for refund in refunds:
        expect(page.locator(f"tr[data-reference='{refund.reference}'] input[name=ids]")).to_be_checked()
    page.fill("#bulk-reason", "Outage credits confirmed with the account owner")
    page.once("dialog", lambda dialog: dialog.accept())  # "Approve 3 selected case(s)?"
    page.click("button[value=approve]")
    page.wait_for_selector("[data-bulk-results]")
    for refund in refunds:
        expect(page.locator(f"[data-result='{refund.reference}']")).to_have_attribute("data-ok", "yes")
    assert set(Refund.objects.filter(pk__in=[r.pk for r in refunds]).values_list("state", flat=True)) == {"succeeded"}
    assert_accessible(page, context="approvals after the bulk decision")
    watched.assert_no_console_errors()


def test_an_auditor_lands_on_the_audit_page(live_server, browser):
    seed_users()
    watched = new_watched_page(browser)
    log_in(watched.page, live_server.url, "auditor")
    expect(watched.page).to_have_url(f"{live_server.url}/audit/")
    assert_accessible(watched.page, context="audit page")
    watched.assert_no_console_errors()


def test_at_390_px_queues_and_case_pages_fit_the_screen(live_server, browser):
    seed_users()
    specialist = get_user_model().objects.get(username="specialist")
    refund = request_refund(requester=specialist, amount_minor=41124493, note="A long note " * 20,
                            payment=PaymentFactory(currency="UZS", amount_minor=15180000000,
                                                   psp_reference="ch_3AVeryLongPaymentReferenceWithoutSpaces0001"))
    dispute = DisputeFactory(assignee=specialist)
    watched = new_watched_page(browser, width=390, height=844)
    page = watched.page
    log_in(page, live_server.url, "specialist")
    for path in ("/queues/all/?type=refunds", "/queues/all/?type=disputes", "/queues/mine/",
                 f"/refunds/{refund.pk}/", f"/disputes/{dispute.pk}/", f"/customers/{refund.payment.customer_id}/"):
        page.goto(f"{live_server.url}{path}")
        assert horizontal_overflow(page) <= 0, f"{path} scrolls sideways at 390 px"
    page.goto(f"{live_server.url}/queues/all/?type=refunds")
    expect(page.locator("nav.mainnav")).to_be_hidden()  # folded behind "Menu"
    page.click("button.menu-toggle")
    expect(page.locator("nav.mainnav")).to_be_visible()
    expect(page.locator("details.filters-fold")).not_to_have_attribute("open", "")  # filters folded
    assert_accessible(page, context="queue at 390 px")
    watched.assert_no_console_errors()
