"""The one search box: keys routed by their shape, what each finds, and a fixed number of queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backoffice.search import KeyKind, classify, luhn_valid, search
from tests.disputes.factories import DisputeFactory
from tests.invoices.factories import CustomerFactory, PaymentFactory
from tests.refunds.factories import request_refund

PREFIXES = frozenset({"DSP", "RFD", "EXT"})


@pytest.mark.parametrize(("text", "kinds", "extra"), [
    ("DSP-123", {KeyKind.CASE_REFERENCE}, {"reference": "DSP-000123"}),
    ("  rfd-000042 ", {KeyKind.CASE_REFERENCE}, {"reference": "RFD-000042"}),
    ("inv-2026-0001", {KeyKind.INVOICE_NUMBER}, {"text": "INV-2026-0001"}),
    ("Anna@Example.KZ", {KeyKind.EMAIL}, {"text": "anna@example.kz"}),
    ("4242", {KeyKind.NUMBER, KeyKind.PSP_ID, KeyKind.CARD_LAST4}, {"number": 4242}),
    ("17", {KeyKind.NUMBER, KeyKind.PSP_ID}, {"number": 17}),
    ("ch_3NxYz", {KeyKind.PSP_ID, KeyKind.NAME}, {}),
    ("dp_1Nabc", {KeyKind.PSP_ID, KeyKind.NAME}, {}),
    ("Khiva Games", {KeyKind.NAME}, {}),
    ("Ан", {KeyKind.NAME}, {}),
    ("", set(), {}),
    ("   ", set(), {}),
    ("-", set(), {}),
])
def test_a_key_is_routed_by_its_shape(text, kinds, extra):
    key = classify(text, reference_prefixes=PREFIXES)
    assert set(key.kinds) == kinds
    for name, value in extra.items():
        assert getattr(key, name) == value


def test_a_full_card_number_is_never_echoed_and_only_looked_up_as_a_psp_reference():
    assert luhn_valid("4242424242424242") and not luhn_valid("4242424242424241")
    spaced = classify("4242 4242 4242 4242", reference_prefixes=PREFIXES)
    assert spaced.maybe_card_number and spaced.display == "" and not spaced.kinds
    bare = classify("4242424242424242", reference_prefixes=PREFIXES)
    assert bare.maybe_card_number and bare.kinds == {KeyKind.PSP_ID}  # an Adyen reference has 16 digits
    assert not classify("8815329842815461", reference_prefixes=PREFIXES).maybe_card_number


@pytest.mark.django_db
def test_search_finds_each_kind_of_row(specialist):
    anna = CustomerFactory(name="Anna Kim Studio", email="anna.kim@orbital.example")
    payment = PaymentFactory(invoice__customer=anna, psp_reference="ch_3AnnaFirst", card_last4="7731")
    other = PaymentFactory(psp_reference="ch_3Someone")
    dispute = DisputeFactory(payment=other, psp_dispute_id="dp_1FindMe")
    refund = request_refund(requester=specialist, payment=payment, amount_minor=500)

    assert [c.pk for c in search(user=specialist, q="ANNA.KIM@").customers] == [anna.pk]
    assert [c.pk for c in search(user=specialist, q="kim stud").customers] == [anna.pk]
    assert [c.pk for c in search(user=specialist, q=anna.external_id).customers] == [anna.pk]
    assert anna.pk in [c.pk for c in search(user=specialist, q=str(anna.pk)).customers]
    assert [i.pk for i in search(user=specialist, q=payment.invoice.number.lower()).invoices] == [payment.invoice_id]
    assert [p.pk for p in search(user=specialist, q="ch_3Anna").payments] == [payment.pk]
    assert [p.pk for p in search(user=specialist, q="7731").payments] == [payment.pk]
    found = search(user=specialist, q="dp_1Find")
    assert [(g.spec.key, [r.pk for r in g.rows]) for g in found.cases] == [("disputes", [dispute.pk])]
    by_reference = search(user=specialist, q=refund.reference.lower())
    assert [(g.spec.key, [r.pk for r in g.rows]) for g in by_reference.cases] == [("refunds", [refund.pk])]
    assert search(user=specialist, q="nothing-like-this-1").total == 0


@pytest.mark.django_db
def test_the_search_page_goes_straight_to_a_unique_reference_and_lists_the_rest(client, specialist, auditor):
    dispute = DisputeFactory(payment__invoice__customer__name="Orbital Render Ltd")
    client.force_login(specialist)
    response = client.get("/search/", {"q": dispute.reference})
    assert response.status_code == 302 and response["Location"] == f"/disputes/{dispute.pk}/"
    invoice = dispute.payment.invoice
    assert client.get("/search/", {"q": invoice.number})["Location"] == f"/invoices/{invoice.pk}/"

    html = client.get("/search/", {"q": "orbital"}).content.decode()
    assert f'href="/customers/{invoice.customer_id}/"' in html and "Orbital Render Ltd" in html

    card = client.get("/search/", {"q": "4111 1111 1111 1111"}).content.decode()
    assert "4111 1111 1111 1111" not in card and "4111111111111111" not in card
    assert 'data-warning="card_number"' in card

    client.force_login(auditor)  # every role reads
    assert "Orbital Render Ltd" in client.get("/search/", {"q": "Orbital"}).content.decode()


@pytest.mark.django_db
def test_search_is_hidden_from_users_without_a_role(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("nobody", password="x"))
    assert client.get("/search/", {"q": "anything"}).status_code == 404


KEYS = ["anna.kim@orbital.example", "Anna", "An", "4242", "17", "ch_3Nx", "INV-2026-T", "DSP-000001",
        "4111111111111111", "cus_test_000001"]


def _queries(client, q: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/search/", {"q": q, "all": "1"})
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.django_db
def test_search_answers_in_a_fixed_number_of_queries_whatever_the_data_size(client, specialist):
    client.force_login(specialist)

    def grow(n: int) -> None:
        for _ in range(n):
            payment = PaymentFactory(invoice__customer__name="Anna Kim", invoice__customer__email="anna@x.example",
                                     card_last4="4242")
            request_refund(requester=specialist, payment=payment, amount_minor=100)
            DisputeFactory(payment=payment)

    grow(2)
    small = {q: _queries(client, q) for q in KEYS}
    grow(15)
    large = {q: _queries(client, q) for q in KEYS}
    assert small == large
    # Session, user, roles and notifications, then at most one query per kind of row: customers,
    # invoices, payments and each registered case type (other apps and the test app register more).
    from backoffice.cases.registry import case_types

    assert max(large.values()) <= 4 + 3 + len(case_types())


@pytest.mark.postgres
@pytest.mark.django_db
def test_every_search_query_is_answered_from_an_index_on_postgresql(specialist):
    """With sequential scans priced out, no search query may still need one: each has an index behind it."""
    PaymentFactory()
    keys = ["anna.kim@orbital.example", "Anna Kim", "An", "4242", "ch_3Nx", "INV-2026-T", "DSP-000001",
            "RFD-000001", "dp_1Nx", "cus_test_000001"]
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            for q in keys:
                with CaptureQueriesContext(connection) as ctx:
                    search(user=specialist, q=q)
                for query in ctx.captured_queries:
                    sql = query["sql"]
                    if "auth_" in sql or not sql.startswith("SELECT"):
                        continue
                    cursor.execute(f"EXPLAIN {sql}")
                    plan = "\n".join(row[0] for row in cursor.fetchall())
                    assert "Seq Scan" not in plan, f"{q!r} needs a sequential scan:\n{sql}\n{plan}"
        finally:
            cursor.execute("SET enable_seqscan = on")
