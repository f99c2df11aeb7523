"""The read-only ledger API: ``/api/v1/invoices/`` and ``/api/v1/customers/``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from .factories import CustomerFactory, InvoiceFactory, PaymentFactory

pytestmark = pytest.mark.django_db


def test_invoices_carry_the_contract_fields_and_what_was_paid(api, auditor):
    invoice = InvoiceFactory(amount_minor=25000, number="INV-2026-000042")
    PaymentFactory(invoice=invoice, amount_minor=10000)
    PaymentFactory(invoice=invoice, amount_minor=5000)

    response = api(auditor).get(f"/api/v1/invoices/{invoice.pk}/")

    assert response.status_code == 200
    data = response.json()
    assert {k: data[k] for k in ("number", "status", "amount_minor", "currency", "paid_minor", "amount_due_minor")} == {
        "number": "INV-2026-000042", "status": "open", "amount_minor": 25000, "currency": "USD",
        "paid_minor": 15000, "amount_due_minor": 10000}
    assert data["customer"] == invoice.customer_id and data["customer_name"] == invoice.customer.name
    assert data["due_at"].startswith(invoice.due_at.strftime("%Y-%m-%dT%H:%M"))


def test_an_unpaid_invoice_has_paid_minor_zero(api, specialist):
    invoice = InvoiceFactory(amount_minor=700)
    data = api(specialist).get(f"/api/v1/invoices/{invoice.pk}/").json()
    assert (data["paid_minor"], data["amount_due_minor"]) == (0, 700)


def test_invoice_filters(api, specialist):
    eur = CustomerFactory(default_currency="EUR", name="Seine Analytics SAS")
    a = InvoiceFactory(customer=eur, number="INV-2026-100001")
    b = InvoiceFactory(status="overdue", number="INV-2026-100002")
    c = InvoiceFactory(status="paid", paid_at=datetime(2026, 1, 2, tzinfo=UTC), number="INV-2026-100003")
    client = api(specialist)

    def numbers(query):
        response = client.get(f"/api/v1/invoices/?{query}")
        assert response.status_code == 200, response.json()
        return {r["number"] for r in response.json()["results"]}

    assert numbers("status=overdue&status=paid") == {b.number, c.number}
    assert numbers("currency=eur") == {a.number}
    assert numbers(f"customer={eur.pk}") == {a.number}
    assert numbers("q=Seine") == {a.number}
    assert numbers("q=100003") == {c.number}
    bad = client.get("/api/v1/invoices/?status=nonsense")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"


def test_invoice_list_has_no_n_plus_one_and_no_count(api, specialist):
    client = api(specialist)
    PaymentFactory()
    with CaptureQueriesContext(connection) as few:
        client.get("/api/v1/invoices/")
    for _ in range(6):
        PaymentFactory()
    with CaptureQueriesContext(connection) as many:
        body = client.get("/api/v1/invoices/?page_size=5").json()
    assert len(body["results"]) == 5 and body["next"]
    assert len(many.captured_queries) == len(few.captured_queries)
    assert not any("COUNT(" in q["sql"].upper() for q in many.captured_queries)


def test_customers_list_retrieve_and_filter(api, auditor):
    kz = CustomerFactory(country="KZ", default_currency="KZT", name="Altyn Compute TOO")
    CustomerFactory(country="US", name="Redwood AI Labs Inc.")
    client = api(auditor)

    listed = client.get("/api/v1/customers/?country=kz").json()["results"]
    assert [c["name"] for c in listed] == ["Altyn Compute TOO"]
    assert client.get("/api/v1/customers/?currency=KZT").json()["results"][0]["id"] == kz.pk
    assert client.get("/api/v1/customers/?q=redwood").json()["results"][0]["country"] == "US"
    one = client.get(f"/api/v1/customers/{kz.pk}/").json()
    assert {k: one[k] for k in ("name", "country", "default_currency", "external_id")} == {
        "name": "Altyn Compute TOO", "country": "KZ", "default_currency": "KZT", "external_id": kz.external_id}


def test_customer_list_paginates_with_a_fixed_number_of_queries(api, specialist):
    client = api(specialist)
    CustomerFactory()
    with CaptureQueriesContext(connection) as few:
        client.get("/api/v1/customers/")
    for _ in range(5):
        CustomerFactory()
    with CaptureQueriesContext(connection) as many:
        body = client.get("/api/v1/customers/?page_size=4").json()
    assert len(body["results"]) == 4 and body["next"] and body["previous"] is None
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.parametrize("url", ["/api/v1/invoices/", "/api/v1/customers/"])
def test_the_ledger_is_read_only_for_everyone(api, lead, url):
    client = api(lead)
    assert client.post(url, {}, format="json").status_code in (403, 405)
    customer = CustomerFactory()
    invoice = InvoiceFactory(customer=customer)
    target = f"{url}{invoice.pk if 'invoices' in url else customer.pk}/"
    assert client.patch(target, {"status": "paid"}, format="json").status_code in (403, 405)
    assert client.delete(target).status_code in (403, 405)


def test_the_ledger_needs_a_role(api, django_user_model):
    nobody = django_user_model.objects.create_user(username="norole", password="pw")
    assert api(nobody).get("/api/v1/invoices/").status_code == 403
    assert api().get("/api/v1/customers/").status_code in (401, 403)
