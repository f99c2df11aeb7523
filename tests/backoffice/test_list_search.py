"""The lists' ``q`` filter (queue pages, API, admin): routed by the key's shape to indexed lookups.

Two things are checked for each kind of key: the rows found are the ones the former filter found
(an OR across the joined tables, kept below as the oracle) or, for kinds it could not find, the
rows the key names; and PostgreSQL's plan answers it from indexes. The fixture's tables are tiny,
so the planner's own choice proves nothing: sequential and plain index scans are priced out
(``enable_seqscan``/``enable_indexscan``/``enable_indexonlyscan`` off), leaving bitmap scans, which
need an index condition; a big table still read by a ``Seq Scan`` (or an index walked end to end,
with no ``Index Cond``) has no index for the lookup.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Q

from disputes.filters import DisputeFilter
from disputes.models import Dispute
from invoices.filters import CustomerFilter, ExtensionFilter, InvoiceFilter, PaymentFilter
from invoices.models import Customer, Invoice, Payment, PaymentExtension
from invoices.services import extension_request
from refunds.filters import RefundFilter
from refunds.models import Refund
from tests.disputes.factories import DisputeFactory
from tests.invoices.factories import CustomerFactory, InvoiceFactory, PaymentFactory
from tests.refunds.factories import request_refund

pytestmark = pytest.mark.django_db

BIG_TABLES = ("disputes_dispute", "refunds_refund", "invoices_paymentextension", "invoices_payment",
              "invoices_invoice", "invoices_customer")


def legacy_case_search(queryset, value, psp_field):
    """The filter before routing (disputes and refunds): reference, else an OR across three tables."""
    value = value.strip()
    prefix = queryset.model.REFERENCE_PREFIX
    if value.upper().startswith(f"{prefix}-"):
        return queryset.filter(reference=value.upper())
    return queryset.filter(Q(**{psp_field: value}) | Q(payment__psp_reference=value)
                           | Q(payment__customer__name__icontains=value))


def legacy_extension_search(queryset, value):
    upper = value.strip().upper()
    if upper.startswith("EXT-"):
        return queryset.filter(reference=upper)
    if upper.startswith("INV-"):
        return queryset.filter(invoice__number=upper)
    return queryset.filter(invoice__customer__name__icontains=value.strip())


def found(filterset_class, model, value):
    return set(filterset_class(data={"q": value}, queryset=model.objects.all()).qs.values_list("pk", flat=True))


@pytest.fixture
def world(specialist):
    anna = CustomerFactory(name="Anna Kim Studio", email="anna.kim@orbital.example", external_id="cus_AnnaKim01")
    bob = CustomerFactory(name="Bolat Data Works", email="ops@bolat.example")
    anna_payment = PaymentFactory(invoice__customer=anna, invoice__number="INV-2026-700001",
                                  psp_reference="ch_3AnnaFirst", card_last4="7731")
    bob_payment = PaymentFactory(invoice__customer=bob, invoice__number="INV-2026-700002",
                                 psp_reference="ch_3BolatOne", card_last4="5005")
    anna_refund = request_refund(requester=specialist, payment=anna_payment, amount_minor=500)
    bob_refund = request_refund(requester=specialist, payment=bob_payment, amount_minor=700)
    anna_dispute = DisputeFactory(payment=anna_payment, psp_dispute_id="dp_1AnnaCase")
    bob_dispute = DisputeFactory(payment=bob_payment, psp_dispute_id="dp_1BolatCase")
    Refund.objects.filter(pk=bob_refund.pk).update(psp_refund_id="re_1BolatRefund")
    anna_invoice = InvoiceFactory(customer=anna, number="INV-2026-700003")
    anna_extension = extension_request(actor=specialist, invoice=anna_invoice, reason="More time",
                                       new_due_date=(anna_invoice.due_at + timedelta(days=10)).date())
    bob_invoice = InvoiceFactory(customer=bob, number="INV-2026-700004")
    bob_extension = extension_request(actor=specialist, invoice=bob_invoice, reason="More time",
                                      new_due_date=(bob_invoice.due_at + timedelta(days=10)).date())
    return {"anna": anna, "bob": bob, "anna_payment": anna_payment, "anna_dispute": anna_dispute,
            "bob_dispute": bob_dispute, "anna_refund": anna_refund, "bob_refund": bob_refund,
            "anna_invoice": anna_invoice, "anna_extension": anna_extension, "bob_extension": bob_extension}


def test_disputes_and_refunds_find_what_the_former_filter_found_for_each_kind_of_key(world):
    dispute, refund = world["anna_dispute"], world["bob_refund"]
    dispute_keys = [dispute.reference, dispute.reference.lower(), "dp_1AnnaCase", "ch_3AnnaFirst", "kim stud",
                    "ANNA KIM", "Bolat", "nothing-like-this-1"]
    for key in dispute_keys:
        legacy = set(legacy_case_search(Dispute.objects.all(), key, "psp_dispute_id").values_list("pk", flat=True))
        assert found(DisputeFilter, Dispute, key) == legacy, key
    refund_keys = [refund.reference, refund.reference.lower(), "re_1BolatRefund", "ch_3BolatOne", "bolat data",
                   "Studio", "nothing-like-this-1"]
    for key in refund_keys:
        legacy = set(legacy_case_search(Refund.objects.all(), key, "psp_refund_id").values_list("pk", flat=True))
        assert found(RefundFilter, Refund, key) == legacy, key
    # and the keys above are not vacuous: each names the rows it should
    assert found(DisputeFilter, Dispute, "dp_1AnnaCase") == {dispute.pk}
    assert found(DisputeFilter, Dispute, "bolat") == {world["bob_dispute"].pk}
    assert found(RefundFilter, Refund, "re_1BolatRefund") == {refund.pk}
    assert found(RefundFilter, Refund, "Studio") == {world["anna_refund"].pk}


def test_extensions_find_what_the_former_filter_found(world):
    extension = world["anna_extension"]
    for key in [extension.reference.lower(), "INV-2026-700003", "inv-2026-700004", "anna kim", "Bolat", "zzz-none"]:
        legacy = set(legacy_extension_search(PaymentExtension.objects.all(), key).values_list("pk", flat=True))
        assert found(ExtensionFilter, PaymentExtension, key) == legacy, key
    assert found(ExtensionFilter, PaymentExtension, "anna kim") == {extension.pk}


def test_keys_the_former_filter_could_not_route_now_find_their_cases(world):
    anna_dispute, anna_refund = world["anna_dispute"], world["anna_refund"]
    assert found(DisputeFilter, Dispute, "anna.kim@") == {anna_dispute.pk}  # e-mail prefix
    assert found(DisputeFilter, Dispute, "7731") == {anna_dispute.pk}  # card last four
    assert found(DisputeFilter, Dispute, "INV-2026-700001") == {anna_dispute.pk}  # invoice number
    assert found(DisputeFilter, Dispute, "dp_1Anna") == {anna_dispute.pk}  # PSP id prefix
    assert found(DisputeFilter, Dispute, str(anna_dispute.pk)) == {anna_dispute.pk}  # the case's own id
    assert found(DisputeFilter, Dispute, anna_refund.reference) == set()  # another case type's reference
    assert found(RefundFilter, Refund, "cus_AnnaKim01") == {anna_refund.pk}  # the customer's external id
    assert found(ExtensionFilter, PaymentExtension, "ops@bolat") == {world["bob_extension"].pk}
    assert found(DisputeFilter, Dispute, "   ") == {anna_dispute.pk, world["bob_dispute"].pk}  # empty: no filter


def test_ledger_lists_route_numbers_references_and_names(world):
    anna, anna_payment = world["anna"], world["anna_payment"]
    assert found(InvoiceFilter, Invoice, "700003") == {world["anna_invoice"].pk}  # digits inside the number
    assert found(InvoiceFilter, Invoice, "inv-2026-70000") == set(
        Invoice.objects.filter(number__startswith="INV-2026-70000").values_list("pk", flat=True))
    assert found(InvoiceFilter, Invoice, "kim studio") == set(anna.invoices.values_list("pk", flat=True))
    assert found(PaymentFilter, Payment, "ch_3Anna") == {anna_payment.pk}
    assert found(PaymentFilter, Payment, "7731") == {anna_payment.pk}
    assert found(CustomerFilter, Customer, "kim stud") == {anna.pk}
    assert found(CustomerFilter, Customer, "orbital") == {anna.pk}  # a word of the e-mail
    assert found(CustomerFilter, Customer, "anna.kim@orbital.example") == {anna.pk}


PLAN_KEYS = {
    "case reference": lambda w: w["anna_dispute"].reference,
    "PSP dispute id": lambda w: "dp_1AnnaCase",
    "charge reference": lambda w: "ch_3AnnaFirst",
    "invoice number": lambda w: "INV-2026-700001",
    "e-mail": lambda w: "anna.kim@orbital",
    "card last four": lambda w: "7731",
    "id": lambda w: str(w["anna_dispute"].pk),
    "name": lambda w: "kim studio",
    "short name": lambda w: "An",
}


def plan(queryset) -> list:
    with transaction.atomic(), connection.cursor() as cursor:
        for kind in ("seqscan", "indexscan", "indexonlyscan"):  # left: bitmap scans, each needs a condition
            cursor.execute(f"SET LOCAL enable_{kind} = off")
        text = queryset.explain(format="json")
    return json.loads(text) if text else []  # no plan: the key cannot mean such rows, nothing is read


def unindexed_reads(node: dict) -> list[str]:
    """Scans of a big table not driven by a condition: a sequential scan, or an index walked from end to
    end (no ``Index Cond``: what the planner falls back to when sequential scans are priced out)."""
    out = []
    table = node.get("Relation Name")
    if table in BIG_TABLES:
        kind = node["Node Type"]
        if kind == "Seq Scan" or (kind in ("Index Scan", "Index Only Scan") and "Index Cond" not in node):
            out.append(f"{kind} on {table}")
    for child in node.get("Plans", []):
        out += unindexed_reads(child)
    return out


@pytest.mark.parametrize("kind", sorted(PLAN_KEYS))
@pytest.mark.parametrize(("filterset_class", "model"), [
    (DisputeFilter, Dispute), (RefundFilter, Refund), (ExtensionFilter, PaymentExtension),
    (InvoiceFilter, Invoice), (PaymentFilter, Payment), (CustomerFilter, Customer),
], ids=lambda v: getattr(v, "__name__", ""))
def test_every_kind_of_key_is_answered_from_indexes(world, kind, filterset_class, model):
    if connection.vendor != "postgresql":
        pytest.skip("the plans are PostgreSQL's")
    queryset = filterset_class(data={"q": PLAN_KEYS[kind](world)}, queryset=model.objects.all()).qs
    tree = plan(queryset)
    assert not (tree and unindexed_reads(tree[0]["Plan"])), json.dumps(tree, indent=1)


def test_the_former_or_across_joins_is_what_the_plan_check_catches(world):
    """The check above can fail: the former filter's plan reads the disputes without a condition."""
    if connection.vendor != "postgresql":
        pytest.skip("the plans are PostgreSQL's")
    tree = plan(legacy_case_search(Dispute.objects.all(), "ch_3AnnaFirst", "psp_dispute_id"))
    assert unindexed_reads(tree[0]["Plan"])


def test_the_queue_page_and_the_api_search_through_the_router(client, api, specialist, world):
    client.force_login(specialist)
    html = client.get("/queues/all/", {"type": "disputes", "q": "7731"}).content.decode()
    assert world["anna_dispute"].reference in html and world["bob_dispute"].reference not in html
    rows = api(specialist).get("/api/v1/refunds/", {"q": "anna.kim@"}).json()["results"]
    assert [r["reference"] for r in rows] == [world["anna_refund"].reference]
