"""The ledger's database constraints refuse bad rows, whatever code path writes them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum

from backoffice.errors import InvalidInput
from invoices.demo import AS_OF
from invoices.filters import InvoiceFilter, PaymentFilter
from invoices.models import Invoice, InvoiceLine, Payment
from invoices.selectors import invoice_list, invoice_paid_minor, payment_list
from invoices.services import InvoiceLineInput, invoice_create

from .factories import CustomerFactory, InvoiceFactory, PaymentFactory

pytestmark = pytest.mark.django_db


def refused(**kwargs):
    """Assert that the database refuses to store a payment with these fields (on a valid invoice)."""
    invoice = InvoiceFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentFactory(invoice=invoice, **kwargs)
    assert not invoice.payments.exists()


# --- factories --------------------------------------------------------------------------------


def test_payment_factory_makes_a_card_payment_that_pays_its_invoice():
    payment = PaymentFactory()

    assert (payment.method, payment.network, payment.card_last4) == ("card", "visa", "4242")
    assert (payment.amount_minor, payment.currency) == (10000, "USD")
    assert payment.customer == payment.invoice.customer
    assert payment.invoice.currency == "USD"
    assert payment.invoice.amount_minor == payment.invoice.lines.aggregate(t=Sum("amount_minor"))["t"] == 10000


def test_payment_factory_follows_the_invoice_it_is_given():
    invoice = InvoiceFactory(customer=CustomerFactory(default_currency="EUR"), amount_minor=5000)

    payment = PaymentFactory(invoice=invoice, amount_minor=2000)

    assert (payment.currency, payment.customer) == ("EUR", invoice.customer)


def test_payment_factory_local_method_trait_has_no_card_fields():
    payment = PaymentFactory(kaspi=True)

    assert (payment.method, payment.method_detail, payment.network, payment.card_last4) == (
        "local",
        "kaspi",
        "",
        "",
    )
    assert payment.invoice.currency == payment.currency == "KZT"


# --- payments ----------------------------------------------------------------------------------


def test_the_same_psp_reference_is_refused_twice_on_one_psp():
    PaymentFactory(psp="stripe", psp_reference="ch_3Dup")

    refused(psp="stripe", psp_reference="ch_3Dup")


def test_the_same_reference_on_another_psp_is_a_different_payment():
    PaymentFactory(psp="stripe", psp_reference="ABC123")

    PaymentFactory(psp="adyen", psp_reference="ABC123")

    assert Payment.objects.filter(psp_reference="ABC123").count() == 2


@pytest.mark.parametrize("amount", [0, -1, -10000])
def test_a_payment_must_be_for_a_positive_amount(amount):
    refused(amount_minor=amount)


@pytest.mark.parametrize("last4", ["42a4", "123", "    ", "４２４２"])
def test_card_last4_must_be_four_ascii_digits(last4):
    refused(card_last4=last4)


def test_card_fields_are_refused_on_non_card_payments():
    refused(bank_transfer=True, card_last4="4242")
    refused(bank_transfer=True, network="visa")


def test_a_card_payment_may_have_no_last4():
    assert PaymentFactory(card_last4="").pk


@pytest.mark.parametrize("currency", ["usd", "US", "U5D"])
def test_payment_currency_must_be_an_upper_case_iso_code(currency):
    refused(currency=currency)


def test_an_empty_psp_reference_is_refused():
    refused(psp_reference="")


def test_last4_validator_refuses_more_than_last_four_digits():
    payment = PaymentFactory.build(card_last4="4242424242424242")
    with pytest.raises(ValidationError, match="last four digits"):
        payment.full_clean(exclude=["invoice", "customer"])


# --- invoices and customers ------------------------------------------------------------------


def test_invoice_currency_must_be_upper_case():
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceFactory(currency="eur", lines=[])


def test_invoice_total_cannot_be_negative():
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceFactory(amount_minor=-1, lines=[])


def test_a_paid_invoice_records_when_it_was_paid():
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceFactory(status=Invoice.Status.PAID, paid_at=None)


def test_an_invoice_cannot_fall_due_before_it_was_issued():
    invoice = InvoiceFactory.build()
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceFactory(issued_at=invoice.issued_at, due_at=invoice.issued_at - timedelta(days=1))


def test_customer_currency_and_country_must_be_iso_codes():
    with pytest.raises(IntegrityError), transaction.atomic():
        CustomerFactory(default_currency="usd")
    with pytest.raises(IntegrityError), transaction.atomic():
        CustomerFactory(country="us")


def test_credit_lines_reduce_and_charge_lines_add():
    invoice = InvoiceFactory(lines=[])
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceLine.objects.create(
            invoice=invoice,
            description="SLA credit",
            kind="credit",
            quantity=1,
            unit_price_minor=500,
            amount_minor=500,
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceLine.objects.create(
            invoice=invoice,
            description="API calls",
            kind="usage",
            quantity=1,
            unit_price_minor=-5,
            amount_minor=-5,
        )


# --- creating an invoice and reading what was paid --------------------------------------------


def test_invoice_create_totals_lines_rounding_half_up():
    customer = CustomerFactory()
    issued = AS_OF

    invoice = invoice_create(
        customer=customer,
        currency="USD",
        issued_at=issued,
        due_at=issued + timedelta(days=30),
        lines=[
            InvoiceLineInput("Platform subscription: Team", "subscription", Decimal(1), 29900, "month"),
            # 731.25 GPU-hours at $1.89 = $1,382.0625 → 138206 cents
            {
                "description": "GPU hours (A100)",
                "kind": "usage",
                "quantity": Decimal("731.25"),
                "unit_price_minor": 189,
                "unit": "GPU-hour",
            },
            # 0.5 × 1 cent = 0.5 → rounds half up to 1 cent
            {"description": "API calls", "kind": "usage", "quantity": Decimal("0.5"), "unit_price_minor": 1},
            {
                "description": "SLA credit",
                "kind": "credit",
                "quantity": Decimal(1),
                "unit_price_minor": -1000,
            },
        ],
    )

    assert [line.amount_minor for line in invoice.lines.order_by("id")] == [29900, 138206, 1, -1000]
    assert invoice.amount_minor == 29900 + 138206 + 1 - 1000
    assert invoice.status == Invoice.Status.OPEN
    assert invoice.number.startswith("INV-2026-")


def test_invoice_create_numbers_invoices_in_sequence():
    customer = CustomerFactory()
    line = InvoiceLineInput("Support", "one_off", Decimal(1), 100)
    kwargs = {"customer": customer, "currency": "USD", "issued_at": AS_OF, "due_at": AS_OF, "lines": [line]}

    first, second = invoice_create(**kwargs), invoice_create(**kwargs)

    assert int(second.number[-6:]) == int(first.number[-6:]) + 1


@pytest.mark.parametrize(
    "line",
    [
        {"description": "x", "kind": "usage", "quantity": 1.5, "unit_price_minor": 100},  # float
        {"description": "x", "kind": "usage", "quantity": Decimal("0.0000001"), "unit_price_minor": 100},
        {"description": "x", "kind": "usage", "quantity": Decimal(0), "unit_price_minor": 100},
        {"description": "x", "kind": "bogus", "quantity": Decimal(1), "unit_price_minor": 100},
        {"description": "x", "kind": "credit", "quantity": Decimal(1), "unit_price_minor": 100},
        {"description": "x", "kind": "credit", "quantity": Decimal(1), "unit_price_minor": -100},  # total < 0
        {"description": "x", "kind": "usage"},
    ],
)
def test_invoice_create_refuses_bad_lines_and_writes_nothing(line):
    with pytest.raises(InvalidInput):
        invoice_create(customer=CustomerFactory(), currency="USD", issued_at=AS_OF, due_at=AS_OF, lines=[line])
    assert not Invoice.objects.exists()


def test_paid_amount_is_the_sum_of_the_invoice_payments():
    invoice = InvoiceFactory(amount_minor=10000)
    assert invoice_paid_minor(invoice=invoice) == 0

    PaymentFactory(invoice=invoice, amount_minor=4000)
    PaymentFactory(invoice=invoice, amount_minor=6000)

    assert invoice_paid_minor(invoice=invoice) == 10000


def test_list_selectors_filter_and_join_what_lists_show(django_assert_num_queries):
    overdue = InvoiceFactory(status=Invoice.Status.OVERDUE, customer=CustomerFactory(name="Tengri GPU Cloud TOO"))
    InvoiceFactory(status=Invoice.Status.PAID, paid_at=AS_OF)
    PaymentFactory(network="amex", psp_reference="ch_3Amex")
    PaymentFactory(network="visa")

    with django_assert_num_queries(1):
        invoices = InvoiceFilter({"status": "overdue", "q": "tengri"}, queryset=invoice_list()).qs
        rows = [(i.number, i.customer.name) for i in invoices]
    assert rows == [(overdue.number, "Tengri GPU Cloud TOO")]
    with django_assert_num_queries(1):
        payments = [(p.psp_reference, p.invoice.number, p.customer.name)
                    for p in PaymentFilter({"network": ["amex"]}, queryset=payment_list()).qs]
    assert [p[0] for p in payments] == ["ch_3Amex"]
    assert not InvoiceFilter({"status": "nonsense"}, queryset=invoice_list()).is_valid()


def test_the_invoice_api_filters_by_due_window_and_several_statuses(api, auditor):
    due_soon = InvoiceFactory(due_at=AS_OF + timedelta(days=3), issued_at=AS_OF)
    InvoiceFactory(due_at=AS_OF + timedelta(days=40), issued_at=AS_OF)
    client = api(auditor)

    found = client.get("/api/v1/invoices/", {"due_after": AS_OF.isoformat(),
                                             "due_before": (AS_OF + timedelta(days=7)).isoformat(),
                                             "status": ["open", "overdue"]})
    refused = client.get("/api/v1/invoices/", {"status": "nonsense"})

    assert [row["id"] for row in found.json()["results"]] == [due_soon.pk]
    assert refused.status_code == 400 and refused.json()["code"] == "invalid"
