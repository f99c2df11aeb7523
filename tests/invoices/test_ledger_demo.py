"""The demo ledger: business customers billed monthly (some for years), self-serve card customers, idempotent."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db.models import Count, Min, Sum

from invoices.demo import AS_OF, CARD_VOLUME_MONTHS, seed_ledger
from invoices.models import Customer, Invoice, InvoiceLine, Payment

pytestmark = pytest.mark.django_db


def ledger_counts() -> tuple[int, int, int, int]:
    return (Customer.objects.count(), Invoice.objects.count(), InvoiceLine.objects.count(), Payment.objects.count())


def test_the_demo_ledger_looks_like_a_real_one_and_is_seeded_once():
    seed_ledger(rng=random.Random(2026))

    business = Customer.objects.filter(external_id__startswith="demo-cus-")
    self_serve = Customer.objects.filter(external_id__startswith="demo-ssc-")
    assert business.count() == 300 and self_serve.count() == 2500
    statuses = set(Invoice.objects.filter(customer__in=business).values_list("status", flat=True))
    assert {"paid", "open", "overdue"} <= statuses
    assert set(business.values_list("default_currency", flat=True)) == {"USD", "EUR", "GBP", "KZT", "AZN", "UZS"}
    networks = set(Payment.objects.filter(method="card").values_list("network", flat=True))
    assert {"visa", "mastercard", "amex", "discover", "jcb", "unionpay", "other"} <= networks
    assert Payment.objects.filter(method="local", method_detail="kaspi", currency="KZT").exists()
    assert Payment.objects.filter(method="local", method_detail__in=["payme", "click"], currency="UZS").exists()
    assert Invoice.objects.filter(status="open", due_at__gte=AS_OF).exists()
    # Paid invoices are paid in full by their payments.
    paid = Invoice.objects.filter(status="paid").annotate(paid=Sum("payments__amount_minor"))
    assert all(row.paid == row.amount_minor and row.paid_at for row in paid)
    # Self-serve customers buy credit by card, paid at once: thousands of card payments every recent month.
    months = CARD_VOLUME_MONTHS - 1
    recent = Payment.objects.filter(method="card", captured_at__gte=AS_OF - timedelta(days=30 * months))
    assert recent.count() > 5000 * months
    assert not Invoice.objects.filter(customer__in=self_serve).exclude(status="paid").exists()
    # Some business customers were billed every month for two years and more.
    long = (Invoice.objects.filter(customer__in=business).values("customer").annotate(n=Count("id"),
                                                                                        first=Min("issued_at"))
            .filter(first__lt=AS_OF - timedelta(days=730)))
    assert len(long) >= 5 and all(row["n"] >= 24 for row in long)

    counts = ledger_counts()
    seed_ledger(rng=random.Random(2026))
    seed_ledger(rng=random.Random(1))
    assert ledger_counts() == counts
