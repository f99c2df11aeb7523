"""Refund pages: the request form from a payment, the refund page and its buttons, the approvals queue."""

import re

import pytest

from refunds.models import Refund
from refunds.services import refund_approve
from tests.invoices.factories import PaymentFactory

from .factories import RefundFactory, request_refund

pytestmark = pytest.mark.django_db


def buttons(html: str) -> list[str]:
    return re.findall(r'data-transition="([a-z_]+)"', html)


# ---------------------------------------------------------------- the request form

def test_the_form_shows_what_is_left_to_refund_formatted(as_user, specialist):
    payment = PaymentFactory(amount_minor=10000, psp_reference="ch_form_1")
    request_refund(requester=specialist, payment=payment, amount_minor=2550)

    page = as_user(specialist).get(f"/refunds/new/?payment={payment.pk}")
    by_reference = as_user(specialist).get("/refunds/new/?payment=ch_form_1")

    assert page.status_code == 200
    html = page.content.decode()
    assert "$74.50" in html and "$100.00" in html and payment.invoice.number in html
    assert by_reference.status_code == 200 and "$74.50" in by_reference.content.decode()


def test_jpy_payments_show_yen_without_decimals(as_user, specialist):
    payment = PaymentFactory(currency="JPY", amount_minor=150000)
    html = as_user(specialist).get(f"/refunds/new/?payment={payment.pk}").content.decode()
    assert "¥150,000" in html and "150,000.00" not in html


def test_a_decimal_amount_is_parsed_in_the_payments_currency_and_the_refund_page_follows(as_user, specialist):
    payment = PaymentFactory(amount_minor=10000)
    client = as_user(specialist)

    response = client.post(f"/refunds/new/?payment={payment.pk}", {
        "payment": payment.pk, "amount": "12.34", "reason": "billing_error", "note": "Wrong seat count",
        "idempotency_key": "form-key-1"})

    refund = Refund.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/refunds/{refund.pk}/"
    assert (refund.amount_minor, refund.currency, refund.reason, refund.note) == (1234, "USD", "billing_error",
                                                                                  "Wrong seat count")
    again = client.post(f"/refunds/new/?payment={payment.pk}", {
        "payment": payment.pk, "amount": "12.34", "reason": "billing_error", "note": "Wrong seat count",
        "idempotency_key": "form-key-1"})
    assert again.status_code == 302 and Refund.objects.count() == 1  # a double submit makes one refund
    page = client.get(response["Location"])
    assert refund.reference in page.content.decode() and "$12.34" in page.content.decode()


@pytest.mark.parametrize(("amount", "message"), [
    ("12.345", "too many decimal places"), ("1,234.50", "not a valid amount"), ("abc", "not a valid amount"),
    ("0", "greater than zero"), ("", "Enter an amount"), ("-5", "greater than zero"),
])
def test_bad_amounts_are_explained_and_nothing_is_saved(as_user, specialist, amount, message):
    payment = PaymentFactory()
    response = as_user(specialist).post(f"/refunds/new/?payment={payment.pk}", {
        "payment": payment.pk, "amount": amount, "reason": "goodwill"})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert Refund.objects.count() == 0


def test_too_much_is_refused_on_the_page_with_what_is_left(as_user, specialist):
    payment = PaymentFactory(amount_minor=10000)
    request_refund(requester=specialist, payment=payment, amount_minor=6000)

    response = as_user(specialist).post(f"/refunds/new/?payment={payment.pk}", {
        "payment": payment.pk, "amount": "60.00", "reason": "goodwill"})

    assert response.status_code == 409
    html = response.content.decode()
    assert "refund_exceeds_refundable" in html and "$40.00 left" in html
    assert Refund.objects.count() == 1


def test_a_missing_reason_or_payment_is_explained(as_user, specialist):
    payment = PaymentFactory()
    response = as_user(specialist).post(f"/refunds/new/?payment={payment.pk}", {"payment": payment.pk,
                                                                                "amount": "1.00"})
    assert response.status_code == 400 and "Choose a reason" in response.content.decode()
    missing = as_user(specialist).get("/refunds/new/?payment=ch_nope")
    assert missing.status_code == 404 and "No payment" in missing.content.decode()
    assert as_user(specialist).get("/refunds/new/").status_code == 200


def test_auditors_do_not_get_the_form(as_user, auditor):
    payment = PaymentFactory()
    assert as_user(auditor).get(f"/refunds/new/?payment={payment.pk}").status_code == 403
    response = as_user(auditor).post(f"/refunds/new/?payment={payment.pk}", {"payment": payment.pk,
                                                                             "amount": "1.00", "reason": "goodwill"})
    assert response.status_code == 403 and Refund.objects.count() == 0


# ---------------------------------------------------------------- the refund page

def test_the_page_shows_facts_and_only_the_buttons_this_user_may_press(as_user, specialist, specialist2, lead,
                                                                      auditor):
    refund = request_refund(requester=specialist, amount_minor=2500, reason="service_outage")
    url = f"/refunds/{refund.pk}/"

    lead_page = as_user(lead).get(url).content.decode()
    assert refund.reference in lead_page and "$25.00" in lead_page and "Service outage" in lead_page
    assert buttons(lead_page) == ["approve", "reject", "cancel"]
    assert buttons(as_user(specialist).get(url).content.decode()) == ["cancel"]
    assert buttons(as_user(specialist2).get(url).content.decode()) == []
    assert buttons(as_user(auditor).get(url).content.decode()) == []
    assert "Timeline" in lead_page and "create" in lead_page


def test_the_requesters_own_approval_is_refused_on_the_page_even_for_a_superuser(as_user, lead, superuser_lead):
    for requester in (lead, superuser_lead):
        refund = request_refund(requester=requester)
        page = as_user(requester).get(f"/refunds/{refund.pk}/").content.decode()
        assert "approve" not in buttons(page)

        response = as_user(requester).post(f"/cases/refunds/{refund.pk}/transition/approve/",
                                           {"reason": "Looks fine", "expected_state": "pending_approval"})

        assert response.status_code == 403
        assert "their own refund request" in response.content.decode()
        assert Refund.objects.get(pk=refund.pk).state == "pending_approval"


def test_a_lead_approves_on_the_page_and_sees_the_outcome(as_user, specialist, lead, commit):
    refund = request_refund(requester=specialist, amount_minor=2500)
    client = as_user(lead)

    with commit():
        response = client.post(f"/cases/refunds/{refund.pk}/transition/approve/",
                               {"reason": "Duplicate capture", "expected_state": "pending_approval"})

    assert response.status_code == 302 and response["Location"] == f"/refunds/{refund.pk}/"
    html = client.get(response["Location"]).content.decode()
    assert 'data-state="succeeded"' in html
    assert "Duplicate capture" in html and "lead1" in html
    assert f"CN-{Refund.objects.get(pk=refund.pk).succeeded_at.year}-{refund.pk:06d}" in html
    pdf = client.get(f"/refunds/{refund.pk}/credit-note.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"


def test_a_decision_without_a_reason_shows_a_message(as_user, specialist, lead):
    refund = request_refund(requester=specialist)
    client = as_user(lead)
    response = client.post(f"/cases/refunds/{refund.pk}/transition/reject/", {"reason": ""}, follow=True)
    assert "reason_required" in response.content.decode()
    assert Refund.objects.get(pk=refund.pk).state == "pending_approval"


def test_a_failed_refund_shows_its_failure_and_a_retry_button_to_leads(as_user, specialist, lead):
    refund = RefundFactory(requester=specialist, state="failed", failure_code="expired_card",
                           failure_message="The customer's card has expired.")
    html = as_user(lead).get(f"/refunds/{refund.pk}/").content.decode()
    assert 'data-failure="expired_card"' in html and buttons(html) == ["retry"]


def test_a_credit_note_for_an_unfinished_refund_redirects_with_a_message(as_user, specialist):
    refund = request_refund(requester=specialist)
    response = as_user(specialist).get(f"/refunds/{refund.pk}/credit-note.pdf", follow=True)
    assert "credit_note_unavailable" in response.content.decode()


# ---------------------------------------------------------------- the approvals queue

def test_the_approvals_queue_lists_what_a_lead_may_decide(as_user, specialist, lead, lead2):
    others = request_refund(requester=specialist, amount_minor=1999, reason="goodwill",
                            payment=PaymentFactory(invoice__customer__name="Orbital Render Ltd"))
    own = request_refund(requester=lead, amount_minor=1000)
    dual = request_refund(requester=specialist, amount_minor=200000, payment=PaymentFactory(amount_minor=300000))
    refund_approve(refund=dual, actor=lead, reason="first look ok")

    page = as_user(lead).get("/queues/approvals/?type=refunds")

    assert page.status_code == 200
    html = page.content.decode()
    assert others.reference in html and own.reference not in html and dual.reference not in html
    for column in ("$19.99", "USD", "Goodwill", "spec1", "Orbital Render Ltd", 'name="ids"'):
        assert column in html, column
    assert f'href="/refunds/{others.pk}/"' in html
    lead2_html = as_user(lead2).get("/queues/approvals/?type=refunds").content.decode()
    assert dual.reference in lead2_html and own.reference in lead2_html and "pending_second_approval" in lead2_html


def test_every_queue_lists_refunds(as_user, specialist, lead):
    refund = request_refund(requester=specialist)
    for name in ("mine", "unassigned", "due-soon", "overdue", "all"):
        assert as_user(specialist).get(f"/queues/{name}/?type=refunds").status_code == 200
    assert refund.reference in as_user(specialist).get("/queues/mine/?type=refunds").content.decode()
    assert refund.reference in as_user(lead).get("/queues/due-soon/?type=refunds").content.decode()
    filtered = as_user(lead).get("/queues/all/?type=refunds&state=rejected").content.decode()
    assert refund.reference not in filtered
