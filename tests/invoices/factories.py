"""Ledger factories: a customer, an open invoice with one line, a captured card payment.

``PaymentFactory()`` is a 100.00 USD (``amount_minor=10000``) Visa card payment on Stripe, last 4
digits "4242" only, captured yesterday, against an open invoice of the same customer, amount
and currency. ``PaymentFactory(currency="EUR", amount_minor=2500)`` makes the invoice match;
``PaymentFactory(invoice=invoice)`` takes the invoice's customer and currency.
Traits: ``bank_transfer=True`` (SEPA debit, no card fields), ``kaspi=True`` (KZT, local method).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from invoices.models import Customer, Invoice, InvoiceLine, Payment


class CustomerFactory(DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Helios Compute {n} Inc.")
    email = factory.Sequence(lambda n: f"billing{n}@helios.example")
    country = "US"
    default_currency = "USD"
    external_id = factory.Sequence(lambda n: f"cus_test_{n:06d}")


class InvoiceLineFactory(DjangoModelFactory):
    class Meta:
        model = InvoiceLine

    invoice = factory.SubFactory("tests.invoices.factories.InvoiceFactory", lines=[])
    description = "GPU hours (A100)"
    kind = InvoiceLine.Kind.USAGE
    quantity = Decimal(1)
    unit = "GPU-hour"
    unit_price_minor = 10000
    amount_minor = factory.LazyAttribute(lambda o: round(o.quantity * o.unit_price_minor))


class InvoiceFactory(DjangoModelFactory):
    """An open invoice with one line whose total is the invoice's ``amount_minor``."""

    class Meta:
        model = Invoice
        skip_postgeneration_save = True

    customer = factory.SubFactory(CustomerFactory)
    number = factory.Sequence(lambda n: f"INV-2026-T{n:06d}")
    status = Invoice.Status.OPEN
    currency = factory.LazyAttribute(lambda o: o.customer.default_currency)
    amount_minor = 10000
    issued_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=10))
    due_at = factory.LazyAttribute(lambda o: o.issued_at + timedelta(days=30))

    @factory.post_generation
    def lines(self, create: bool, extracted, **kwargs) -> None:
        """One line by default; ``lines=[]`` for none, or a list of InvoiceLine field dicts."""
        if not create:
            return
        for spec in extracted if extracted is not None else [{}]:
            InvoiceLineFactory(invoice=self, **{"unit_price_minor": self.amount_minor, **spec})


class PaymentFactory(DjangoModelFactory):
    class Meta:
        model = Payment

    invoice = factory.SubFactory(
        InvoiceFactory,
        amount_minor=factory.SelfAttribute("..amount_minor"),
        currency=factory.SelfAttribute("..currency"),
        customer__default_currency=factory.SelfAttribute("...currency"),
    )
    customer = factory.LazyAttribute(lambda o: o.invoice.customer)
    psp = Payment.Psp.STRIPE
    psp_reference = factory.Sequence(lambda n: f"ch_test_{n:010d}")
    method = Payment.Method.CARD
    method_detail = ""
    network = Payment.Network.VISA
    card_last4 = "4242"
    amount_minor = 10000
    currency = "USD"
    captured_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))

    class Params:
        bank_transfer = factory.Trait(
            method=Payment.Method.BANK_TRANSFER, method_detail="sepa_debit", network="", card_last4=""
        )
        kaspi = factory.Trait(
            psp=Payment.Psp.SANDBOX,
            method=Payment.Method.LOCAL,
            method_detail="kaspi",
            network="",
            card_last4="",
            currency="KZT",
            amount_minor=4_500_000,
        )

    @classmethod
    def _generate(cls, strategy, params):
        # A payment is in its invoice's currency unless the test says otherwise.
        invoice = params.get("invoice")
        if invoice is not None and "currency" not in params:
            params = {**params, "currency": invoice.currency}
        return super()._generate(strategy, params)
