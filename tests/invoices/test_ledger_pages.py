"""The customer, invoice and payment pages: related rows, open balance, history, and only the actions that fit."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from invoices.models import Invoice
from refunds.services import refund_approve
from tests.disputes.factories import DisputeFactory
from tests.invoices.factories import CustomerFactory, InvoiceFactory, PaymentFactory
from tests.refunds.factories import request_refund


@pytest.fixture
def customer(db, specialist, lead):
    """A customer with a paid invoice (payment partly refunded), an open unpaid one, a disputed payment."""
    customer = CustomerFactory(name="Tengri Cloud LLP", email="ap@tengri.example", country="KZ",
                               default_currency="KZT")
    paid = PaymentFactory(invoice__customer=customer, currency="KZT", amount_minor=41124493,
                          psp_reference="ch_3TengriPaid")
    Invoice.objects.filter(pk=paid.invoice_id).update(status=Invoice.Status.PAID, paid_at=paid.captured_at)
    refund = request_refund(requester=specialist, payment=paid, amount_minor=1000000)
    refund_approve(refund=refund, actor=lead, reason="ok", submit=False)
    disputed = PaymentFactory(invoice__customer=customer, currency="KZT", amount_minor=500000,
                              psp_reference="ch_3TengriDisputed")
    DisputeFactory(payment=disputed)
    InvoiceFactory(customer=customer, currency="KZT", amount_minor=15180000, number="INV-2026-OPEN01")
    customer.refund = refund
    customer.paid = paid
    customer.disputed = disputed
    return customer


def test_the_customer_page_shows_everything_related_with_the_open_balance(client, customer, specialist):
    client.force_login(specialist)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"/customers/{customer.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    for expected in ("Tengri Cloud LLP", "ap@tengri.example", "ch_3TengriPaid", "ch_3TengriDisputed",
                     "INV-2026-OPEN01", customer.refund.reference, 'data-section="disputes"', "History"):
        assert expected in html, expected
    # Open: the unpaid invoice (151,800.00) and the disputed payment's invoice (paid 5,000.00 of 5,000.00).
    assert 'data-balance="KZT"' in html and "₸151,800.00" in html
    assert len(ctx.captured_queries) < 20


def test_each_row_offers_only_the_actions_that_can_succeed(client, customer, specialist, auditor):
    client.force_login(specialist)
    html = client.get(f"/customers/{customer.pk}/").content.decode()
    refund_link = f'href="/refunds/new/?payment={customer.paid.pk}" data-action="refund"'
    assert refund_link in html  # partly refunded: still something left
    assert f'/refunds/new/?payment={customer.disputed.pk}"' not in html  # an open dispute: no refund
    assert "Open dispute: no refund until it is resolved." in html
    open_invoice = Invoice.objects.get(number="INV-2026-OPEN01")
    assert f'href="/extensions/new/?invoice={open_invoice.pk}" data-action="extension"' in html
    assert f'/extensions/new/?invoice={customer.paid.invoice_id}"' not in html  # paid: nothing to extend
    assert f'href="/disputes/new/?payment={customer.paid.pk}" data-action="dispute"' in html

    client.force_login(auditor)
    html = client.get(f"/customers/{customer.pk}/").content.decode()
    assert "data-action=" not in html and "ch_3TengriPaid" in html


def test_the_invoice_and_payment_pages(client, customer, specialist):
    client.force_login(specialist)
    invoice = Invoice.objects.get(number="INV-2026-OPEN01")
    html = client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert "Tengri Cloud LLP" in html and 'data-field="amount_due"' in html and "₸151,800.00" in html
    assert 'data-action="extension"' in html

    html = client.get(f"/payments/{customer.paid.pk}/").content.decode()
    assert customer.refund.reference in html and 'data-field="refundable"' in html
    assert "₸401,244.93" in html  # 411,244.93 captured − 10,000.00 approved
    assert 'data-action="refund"' in html

    assert client.get("/payments/999999/").status_code == 404
    assert client.get("/customers/999999/").status_code == 404


def test_long_histories_are_paged(client, specialist):
    customer = CustomerFactory()
    for _ in range(23):
        PaymentFactory(invoice__customer=customer)
    client.force_login(specialist)
    first = client.get(f"/customers/{customer.pk}/").content.decode()
    assert first.count('data-payment-id="') == 20 and "?payments=2#payments" in first
    second = client.get(f"/customers/{customer.pk}/", {"payments": "2"}).content.decode()
    assert second.count('data-payment-id="') == 3 and "Newer payments" in second
