"""Extension pages: the request form from an invoice, the extension page with only the allowed
actions, decisions through the generic transition endpoint, the queues."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backoffice.cases.models import Comment
from invoices.models import Invoice, PaymentExtension, promise_deadline, utc_date
from invoices.services import extension_approve, extension_mark_broken, extension_request

from .factories import InvoiceFactory, PaymentFactory

pytestmark = pytest.mark.django_db

NEW = "/extensions/new/"


def make(actor, *, days=10, invoice=None):
    invoice = invoice or InvoiceFactory()
    return extension_request(actor=actor, invoice=invoice, new_due_date=utc_date(invoice.due_at) + timedelta(days=days),
                             reason="Customer asked by phone")


def buttons(html: str) -> set[str]:
    return set(re.findall(r'data-transition="([a-z_]+)"', html))


def decide(client, extension, name, reason="Checked with the customer", *, follow=False, **extra):
    return client.post(f"/cases/extensions/{extension.pk}/transition/{name}/", {"reason": reason, **extra},
                       follow=follow)


def invoice_row(invoice_id):
    return Invoice.objects.filter(pk=invoice_id).values("due_at", "dunning_paused", "status").get()


# --- the request form -------------------------------------------------------------------------------


def test_the_form_shows_the_invoice_its_due_date_and_amount_due(client, specialist):
    invoice = InvoiceFactory(amount_minor=123456)
    PaymentFactory(invoice=invoice, amount_minor=23456)
    client.force_login(specialist)

    response = client.get(f"{NEW}?invoice={invoice.pk}")

    html = response.content.decode()
    assert response.status_code == 200
    assert invoice.number in html and invoice.customer.name in html
    assert utc_date(invoice.due_at).isoformat() in html
    assert "$1,000.00" in html  # amount due: 1,234.56 − 234.56
    assert 'type="date"' in html and 'name="new_due_date"' in html
    assert "none in the last 12 months" in html


def test_the_form_flags_a_customer_who_broke_a_promise(client, specialist, lead):
    broken = make(specialist, days=3)
    extension_approve(extension_id=broken.pk, actor=lead, reason="ok")
    extension_mark_broken(extension_id=broken.pk, now=promise_deadline(broken.new_due_date) + timedelta(minutes=1))
    invoice = InvoiceFactory(customer=broken.invoice.customer)
    client.force_login(specialist)

    html = client.get(f"{NEW}?invoice={invoice.pk}").content.decode()
    assert "broke a promise to pay in the last 12 months" in html

    response = client.post(f"{NEW}?invoice={invoice.pk}", {
        "invoice": invoice.pk, "new_due_date": (utc_date(invoice.due_at) + timedelta(days=4)).isoformat(),
        "reason": "Second chance"}, follow=True)
    created = PaymentExtension.objects.get(invoice=invoice)
    assert created.customer_broke_promise_recently
    assert "broke a promise to pay in the 12 months before this request" in response.content.decode()


def test_find_an_invoice_by_number(client, specialist):
    invoice = InvoiceFactory(number="INV-2026-000777")
    client.force_login(specialist)
    assert 'name="number"' in client.get(NEW).content.decode()
    found = client.get(f"{NEW}?number=inv-2026-000777")
    assert found.status_code == 200 and f'name="invoice" value="{invoice.pk}"' in found.content.decode()
    missing = client.get(f"{NEW}?number=INV-0000")
    assert missing.status_code == 404 and "No invoice has that number" in missing.content.decode()


def test_a_valid_request_goes_to_the_extension_page(client, specialist):
    invoice = InvoiceFactory()
    new_due = utc_date(invoice.due_at) + timedelta(days=12)
    client.force_login(specialist)

    response = client.post(f"{NEW}?invoice={invoice.pk}", {"invoice": invoice.pk, "new_due_date": new_due.isoformat(),
                                                           "reason": "Budget approved next week"})

    extension = PaymentExtension.objects.get(invoice=invoice)
    assert response.status_code == 302 and response["Location"] == f"/extensions/{extension.pk}/"
    assert (extension.days_requested, extension.requester, extension.new_due_date) == (12, specialist, new_due)
    page = client.get(response["Location"]).content.decode()
    assert f"{extension.reference} requested: 12 days" in page


@pytest.mark.parametrize("days,reason,date_text,message", [
    (0, "ok", None, "new_due_date_not_after_current"),
    (-5, "ok", None, "new_due_date_not_after_current"),
    (400, "ok", None, "extension_too_long"),
    (5, "", None, "This field is required."),
    (5, "ok", "31/02/2026", "Enter a valid date."),
])
def test_bad_input_shows_a_clear_error_and_saves_nothing(client, specialist, days, reason, date_text, message):
    invoice = InvoiceFactory()
    client.force_login(specialist)
    new_due = date_text or (utc_date(invoice.due_at) + timedelta(days=days)).isoformat()

    response = client.post(f"{NEW}?invoice={invoice.pk}", {"invoice": invoice.pk, "new_due_date": new_due,
                                                           "reason": reason})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not PaymentExtension.objects.exists()
    assert invoice_row(invoice.pk)["dunning_paused"] is False


def test_a_second_open_extension_is_refused_on_the_form(client, specialist, specialist2):
    first = make(specialist, days=5)
    client.force_login(specialist2)

    page = client.get(f"{NEW}?invoice={first.invoice_id}").content.decode()
    assert "already has an open extension" in page and first.reference in page
    assert "disabled>Request extension" in page

    response = client.post(f"{NEW}?invoice={first.invoice_id}", {
        "invoice": first.invoice_id, "new_due_date": (first.new_due_date + timedelta(days=2)).isoformat(),
        "reason": "again"})
    assert response.status_code == 400 and "extension_already_open" in response.content.decode()
    assert PaymentExtension.objects.filter(invoice_id=first.invoice_id).count() == 1


def test_a_paid_invoice_cannot_get_an_extension(client, specialist):
    invoice = InvoiceFactory(status="paid", paid_at=datetime(2026, 1, 5, tzinfo=UTC))
    client.force_login(specialist)
    assert "Only open or overdue invoices" in client.get(f"{NEW}?invoice={invoice.pk}").content.decode()
    response = client.post(f"{NEW}?invoice={invoice.pk}", {
        "invoice": invoice.pk, "new_due_date": (utc_date(invoice.due_at) + timedelta(days=2)).isoformat(),
        "reason": "please"})
    assert response.status_code == 400 and "invoice_not_eligible" in response.content.decode()


# --- the extension page ------------------------------------------------------------------------------


def test_the_page_shows_the_facts_and_the_approvers_limit(client, specialist, specialist2, lead):
    extension = make(specialist, days=10)

    client.force_login(specialist2)
    html = client.get(f"/extensions/{extension.pk}/").content.decode()
    assert extension.reference in html and extension.invoice.number in html
    assert re.search(r'data-fact="days_requested"><strong>10</strong>', html)
    assert re.search(r'data-fact="limit_days">14 days', html)
    assert extension.new_due_date.isoformat() in html and "23:59:59 UTC" in html
    assert "create" in html  # the journal timeline
    assert buttons(html) == {"approve", "reject"}

    client.force_login(lead)
    assert re.search(r'data-fact="limit_days">90 days', client.get(f"/extensions/{extension.pk}/").content.decode())


def test_the_requester_sees_only_cancel(client, specialist):
    extension = make(specialist, days=5)
    client.force_login(specialist)
    html = client.get(f"/extensions/{extension.pk}/").content.decode()
    assert buttons(html) == {"cancel"}
    assert "someone else must approve or reject it" in html


def test_approve_is_not_offered_above_the_limit(client, specialist, specialist2, lead):
    extension = make(specialist, days=30)
    client.force_login(specialist2)
    html = client.get(f"/extensions/{extension.pk}/").content.decode()
    assert buttons(html) == {"reject"} and "above your approval limit of 14 days" in html
    client.force_login(lead)
    assert buttons(client.get(f"/extensions/{extension.pk}/").content.decode()) == {"approve", "reject", "cancel"}


def test_decisions_through_the_pages(client, specialist, specialist2, lead):
    ten = make(specialist, days=10)
    thirty = make(specialist, days=30)
    before = invoice_row(thirty.invoice_id)

    client.force_login(specialist)
    own = decide(client, ten, "approve")
    assert own.status_code == 403 and "someone else must approve" in own.content.decode()

    client.force_login(specialist2)
    ok = decide(client, ten, "approve", expected_state="requested")
    assert ok.status_code == 302
    assert PaymentExtension.objects.get(pk=ten.pk).state == "approved"
    assert invoice_row(ten.invoice_id)["due_at"] == promise_deadline(ten.new_due_date)
    over = decide(client, thirty, "approve")
    assert over.status_code == 403 and "above your approval limit of 14 days" in over.content.decode()
    assert invoice_row(thirty.invoice_id) == before

    client.force_login(lead)
    done = client.post(f"/cases/extensions/{thirty.pk}/transition/approve/", {"reason": "Known customer"}, follow=True)
    assert "Done: approve." in done.content.decode()
    assert PaymentExtension.objects.get(pk=thirty.pk).state == "approved"
    assert invoice_row(thirty.invoice_id)["due_at"] == promise_deadline(thirty.new_due_date)


def test_a_decision_without_a_reason_is_shown_as_an_error(client, specialist, lead):
    extension = make(specialist, days=5)
    client.force_login(lead)
    response = decide(client, extension, "approve", reason="", follow=True)
    assert "reason_required" in response.content.decode()
    assert PaymentExtension.objects.get(pk=extension.pk).state == "requested"


@pytest.mark.parametrize("name,who", [("reject", "specialist2"), ("cancel", "specialist"), ("cancel", "lead")])
def test_reject_and_cancel_on_the_page_leave_the_invoice_alone(client, request, specialist, name, who):
    extension = make(specialist, days=6)
    before = invoice_row(extension.invoice_id)
    client.force_login(request.getfixturevalue(who))
    assert decide(client, extension, name).status_code == 302
    assert PaymentExtension.objects.get(pk=extension.pk).state in ("rejected", "cancelled")
    assert invoice_row(extension.invoice_id) == before


def test_an_auditor_reads_the_pages_and_gets_403_on_every_write(client, auditor, specialist, lead):
    extension = make(specialist, days=5)
    invoice = InvoiceFactory()
    client.force_login(auditor)

    page = client.get(f"/extensions/{extension.pk}/")
    assert page.status_code == 200 and buttons(page.content.decode()) == set()
    assert client.get("/queues/all/?type=extensions").status_code == 200

    writes = [
        client.get(f"{NEW}?invoice={invoice.pk}"),
        client.post(f"{NEW}?invoice={invoice.pk}", {"invoice": invoice.pk, "reason": "x",
                                                    "new_due_date": (utc_date(invoice.due_at) + timedelta(days=3))}),
        *[decide(client, extension, name) for name in ("approve", "reject", "cancel", "fulfil", "mark_broken")],
        client.post(f"/cases/extensions/{extension.pk}/claim/"),
        client.post(f"/cases/extensions/{extension.pk}/assign/", {"assignee": lead.pk}),
        client.post(f"/cases/extensions/{extension.pk}/comment/", {"body": "fine"}),
    ]
    assert [r.status_code for r in writes] == [403] * len(writes)
    assert PaymentExtension.objects.count() == 1 and not Comment.objects.exists()
    assert PaymentExtension.objects.get(pk=extension.pk).state == "requested"


# --- queues -------------------------------------------------------------------------------------------


def test_the_queue_lists_extensions_with_their_columns_and_filters(client, specialist, lead):
    short = make(specialist, days=3)
    long = make(specialist, days=40)
    client.force_login(lead)

    html = client.get("/queues/all/?type=extensions").content.decode()
    assert short.reference in html and long.reference in html
    assert f'href="/extensions/{short.pk}/"' in html and short.invoice.number in html
    assert short.invoice.customer.name in html and 'name="ids"' in html
    for header in ("Original due", "New due", "Days", "Requester", "Broke a promise"):
        assert header in html

    filtered = client.get("/queues/all/?type=extensions&days_min=30").content.decode()
    assert long.reference in filtered and short.reference not in filtered
    by_due = client.get(f"/queues/all/?type=extensions&due_before={short.new_due_date}").content.decode()
    assert short.reference in by_due and long.reference not in by_due
    by_customer = client.get(f"/queues/all/?type=extensions&customer={long.invoice.customer_id}").content.decode()
    assert long.reference in by_customer and short.reference not in by_customer
    by_state = client.get("/queues/all/?type=extensions&state=approved").content.decode()
    assert short.reference not in by_state


def test_the_queue_page_runs_a_fixed_number_of_queries(client, specialist, lead):
    make(specialist, days=3)
    client.force_login(lead)
    client.get("/queues/all/?type=extensions")
    with CaptureQueriesContext(connection) as few:
        client.get("/queues/all/?type=extensions")
    for days in range(4, 14):
        make(specialist, days=days)
    with CaptureQueriesContext(connection) as many:
        html = client.get("/queues/all/?type=extensions").content.decode()
    assert html.count('name="ids" value=') == 11
    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_approvals_queue_shows_what_this_user_could_approve(client, specialist, specialist2, lead):
    mine = make(specialist2, days=5)
    small = make(specialist, days=10)
    large = make(specialist, days=30)
    decided = make(specialist, days=4)
    extension_approve(extension_id=decided.pk, actor=lead, reason="ok")

    client.force_login(specialist2)
    html = client.get("/queues/approvals/?type=extensions").content.decode()
    assert small.reference in html
    assert mine.reference not in html and large.reference not in html and decided.reference not in html

    client.force_login(lead)
    html = client.get("/queues/approvals/?type=extensions").content.decode()
    assert {small.reference, large.reference, mine.reference} <= set(re.findall(r"EXT-\d{6}", html))
    assert decided.reference not in html


def test_open_extensions_appear_in_the_due_soon_queue(client, specialist):
    soon = make(specialist, invoice=InvoiceFactory(issued_at=datetime.now(UTC) - timedelta(days=20),
                                                   due_at=datetime.now(UTC) - timedelta(days=1)), days=2)
    later = make(specialist, days=20)
    client.force_login(specialist)
    html = client.get("/queues/due-soon/?type=extensions").content.decode()
    assert soon.reference in html and later.reference not in html


# --- admin --------------------------------------------------------------------------------------------

ADMIN = "/admin/invoices/paymentextension/"


def admin_action(client, action, ids, **extra):
    return client.post(ADMIN, {"action": action, "_selected_action": [str(i) for i in ids], **extra}, follow=True)


def test_the_admin_lists_extensions_read_only(client, superuser_lead, specialist):
    extension = make(specialist, days=5)
    client.force_login(superuser_lead)
    listing = client.get(f"{ADMIN}?state__exact=requested")
    assert listing.status_code == 200 and extension.reference in listing.content.decode()
    change = client.get(f"{ADMIN}{extension.pk}/change/")
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    assert client.get(f"{ADMIN}add/").status_code == 403


def test_admin_actions_ask_for_a_reason_and_call_the_services(client, superuser_lead, specialist):
    extension = make(specialist, days=30)
    client.force_login(superuser_lead)

    confirm = admin_action(client, "approve_selected", [extension.pk])
    assert "Give a reason" not in confirm.content.decode() and 'name="reason"' in confirm.content.decode()
    no_reason = admin_action(client, "approve_selected", [extension.pk], confirm="yes", reason=" ")
    assert "Give a reason" in no_reason.content.decode()
    assert PaymentExtension.objects.get(pk=extension.pk).state == "requested"

    done = admin_action(client, "approve_selected", [extension.pk], confirm="yes", reason="Approved after a call")
    assert "Approve: 1 extension(s) done." in done.content.decode()
    extension.refresh_from_db()
    assert (extension.state, extension.decided_by, extension.decision_reason) == (
        "approved", superuser_lead, "Approved after a call")
    assert invoice_row(extension.invoice_id)["due_at"] == promise_deadline(extension.new_due_date)


def test_the_admin_refuses_a_superusers_own_approval(client, superuser_lead):
    own = make(superuser_lead, days=5)
    before = invoice_row(own.invoice_id)
    client.force_login(superuser_lead)

    response = admin_action(client, "approve_selected", [own.pk], confirm="yes", reason="I can do this")

    assert "self_approval_forbidden" in response.content.decode()
    assert PaymentExtension.objects.get(pk=own.pk).state == "requested"
    assert invoice_row(own.invoice_id) == before
