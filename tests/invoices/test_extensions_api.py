"""``/api/v1/extensions/``: create with Idempotency-Key, four-eyes approval within limits, refusals
with stable codes, the auditor's 403 on every write, history, filters without N+1."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import DatabaseError, connection, connections
from django.test.utils import CaptureQueriesContext

from backoffice.errors import DomainError
from backoffice.journal.models import JournalEntry
from invoices.models import Invoice, PaymentExtension, promise_deadline, utc_date
from invoices.services import extension_approve, extension_request

from .factories import CustomerFactory, InvoiceFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/extensions/"


def body_for(invoice, *, days=10, reason="Customer waits for its budget approval"):
    return {"invoice": invoice.pk, "new_due_date": (utc_date(invoice.due_at) + timedelta(days=days)).isoformat(),
            "reason": reason}


def create(client, invoice=None, *, days=10, **headers):
    invoice = invoice or InvoiceFactory()
    return client.post(URL, body_for(invoice, days=days), format="json", **headers)


def transition(client, extension_id, name, reason="Checked with the customer", **extra):
    return client.post(f"{URL}{extension_id}/transitions/{name}/", {"reason": reason, **extra}, format="json")


def make(actor, *, days=10, invoice=None):
    invoice = invoice or InvoiceFactory()
    return extension_request(actor=actor, invoice=invoice, new_due_date=utc_date(invoice.due_at) + timedelta(days=days),
                             reason="Customer asked by phone")


# --- create ---------------------------------------------------------------------------------------


def test_create_returns_the_contract_fields(api, specialist):
    invoice = InvoiceFactory()
    response = create(api(specialist), invoice, days=10)

    assert response.status_code == 201, response.json()
    data = response.json()
    for field in ("id", "reference", "state", "assignee", "created_at", "invoice", "new_due_date", "reason"):
        assert field in data
    assert data["state"] == "requested" and data["reference"].startswith("EXT-")
    assert data["invoice"] == invoice.pk and data["invoice_number"] == invoice.number
    assert data["new_due_date"] == (utc_date(invoice.due_at) + timedelta(days=10)).isoformat()
    assert data["original_due_date"] == utc_date(invoice.due_at).isoformat()
    assert data["days_requested"] == 10 and data["customer_broke_promise_recently"] is False
    assert data["requester"] == {"id": specialist.pk, "username": "spec1"}
    assert data["decided_by"] is None and data["assignee"] is None
    assert data["currency"] == "USD" and data["customer"] == invoice.customer_id


@pytest.mark.parametrize("payload,code", [
    ({}, "invalid"),
    ({"invoice": 1, "new_due_date": "tomorrow", "reason": "x"}, "invalid"),
    ({"invoice": "abc", "new_due_date": "2030-01-01", "reason": "x"}, "invalid"),
    ({"invoice": 999999, "new_due_date": "2030-01-01", "reason": "x"}, "invoice_not_found"),
])
def test_bad_input_is_a_400_with_a_code_and_saves_nothing(api, specialist, payload, code):
    response = api(specialist).post(URL, payload, format="json")
    assert response.status_code == 400 and response.json()["code"] == code
    assert not PaymentExtension.objects.exists()


def test_a_date_not_after_the_current_due_date_is_a_400(api, specialist):
    response = create(api(specialist), days=0)
    assert response.status_code == 400 and response.json()["code"] == "new_due_date_not_after_current"


def test_a_second_open_extension_is_a_409_with_a_clear_error(api, specialist, specialist2):
    invoice = InvoiceFactory()
    first = create(api(specialist), invoice, days=5).json()

    response = create(api(specialist2), invoice, days=7)

    assert response.status_code == 409
    assert response.json()["code"] == "extension_already_open"
    assert first["reference"] in response.json()["detail"] and response.json()["extension"] == first["id"]
    assert PaymentExtension.objects.filter(invoice=invoice).count() == 1


def test_idempotency_key_replays_the_first_result_and_refuses_another_body(api, specialist):
    client = api(specialist)
    invoice = InvoiceFactory()
    first = client.post(URL, body_for(invoice, days=5), format="json", HTTP_IDEMPOTENCY_KEY="ext-123")
    replay = client.post(URL, body_for(invoice, days=5), format="json", HTTP_IDEMPOTENCY_KEY="ext-123")
    other = client.post(URL, body_for(invoice, days=6), format="json", HTTP_IDEMPOTENCY_KEY="ext-123")

    assert first.status_code == 201 and replay.status_code == 201
    assert replay.json() == first.json() and replay["Idempotent-Replayed"] == "true"
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert PaymentExtension.objects.count() == 1


def test_a_refused_create_is_not_remembered_under_its_key(api, specialist):
    client = api(specialist)
    invoice = InvoiceFactory()
    refused = client.post(URL, body_for(invoice, days=0), format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert refused.status_code == 400
    ok = client.post(URL, body_for(invoice, days=3), format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert ok.status_code == 201


# --- transitions ------------------------------------------------------------------------------------


def test_a_specialists_own_approval_is_refused(api, specialist):
    extension = make(specialist, days=5)
    response = transition(api(specialist), extension.pk, "approve")
    assert response.status_code == 403 and response.json()["code"] == "self_approval_forbidden"
    assert PaymentExtension.objects.get(pk=extension.pk).state == "requested"


def test_another_specialist_approves_ten_days_and_the_due_date_moves(api, specialist, specialist2):
    extension = make(specialist, days=10)

    response = transition(api(specialist2), extension.pk, "approve", expected_state="requested")

    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["state"] == "approved" and data["decided_by"]["username"] == "spec2"
    assert data["decision_reason"] == "Checked with the customer"
    invoice = Invoice.objects.get(pk=extension.invoice_id)
    assert invoice.due_at == promise_deadline(extension.new_due_date) and invoice.dunning_paused


def test_a_specialist_cannot_approve_thirty_days_a_team_lead_can(api, specialist, specialist2, lead):
    extension = make(specialist, days=30)
    due_before = Invoice.objects.get(pk=extension.invoice_id).due_at

    refused = transition(api(specialist2), extension.pk, "approve")
    assert refused.status_code == 403
    assert refused.json()["code"] == "approval_limit_exceeded"
    assert refused.json()["limit_days"] == 14 and refused.json()["days_requested"] == 30
    assert Invoice.objects.get(pk=extension.invoice_id).due_at == due_before

    approved = transition(api(lead), extension.pk, "approve")
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    assert Invoice.objects.get(pk=extension.invoice_id).due_at == promise_deadline(extension.new_due_date)


@pytest.mark.parametrize("name,actor", [("reject", "specialist2"), ("cancel", "specialist"), ("cancel", "lead")])
def test_reject_and_cancel_leave_the_invoice_unchanged(api, request, specialist, name, actor):
    extension = make(specialist, days=8)
    before = Invoice.objects.filter(pk=extension.invoice_id).values("due_at", "dunning_paused", "status").get()

    response = transition(api(request.getfixturevalue(actor)), extension.pk, name)

    assert response.status_code == 200 and response.json()["state"] == {"reject": "rejected",
                                                                         "cancel": "cancelled"}[name]
    assert Invoice.objects.filter(pk=extension.invoice_id).values("due_at", "dunning_paused", "status").get() == before


def test_a_decision_without_a_reason_is_a_400(api, specialist, lead):
    extension = make(specialist, days=5)
    response = transition(api(lead), extension.pk, "approve", reason="")
    assert response.status_code == 400 and response.json()["code"] == "reason_required"


def test_wrong_state_stale_state_and_unknown_transitions_are_409(api, specialist, lead):
    extension = make(specialist, days=5)
    client = api(lead)
    assert transition(client, extension.pk, "approve").status_code == 200

    again = transition(client, extension.pk, "reject")
    stale = transition(client, extension.pk, "cancel", expected_state="requested")
    unknown = transition(client, extension.pk, "explode")

    assert (again.status_code, again.json()["code"]) == (409, "transition_not_allowed")
    assert (stale.status_code, stale.json()["code"]) == (409, "concurrent_change")
    assert (unknown.status_code, unknown.json()["code"]) == (409, "unknown_transition")


@pytest.mark.parametrize("name", ["fulfil", "mark_broken"])
def test_system_transitions_are_refused_to_people(api, specialist, lead, name):
    extension = make(specialist, days=5)
    extension_approve(extension_id=extension.pk, actor=lead, reason="ok")
    response = transition(api(lead), extension.pk, name)
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"


def test_an_auditor_reads_everything_and_gets_403_on_every_write(api, auditor, specialist, lead):
    extension = make(specialist, days=5)
    client = api(auditor)
    assert client.get(URL).status_code == 200
    assert client.get(f"{URL}{extension.pk}/").status_code == 200
    assert client.get(f"{URL}{extension.pk}/history/").status_code == 200

    writes = [
        client.post(URL, body_for(InvoiceFactory()), format="json"),
        client.post(URL, body_for(InvoiceFactory()), format="json", HTTP_IDEMPOTENCY_KEY="a1"),
        *[transition(client, extension.pk, name) for name in ("approve", "reject", "cancel", "fulfil", "mark_broken")],
        client.post(f"{URL}{extension.pk}/claim/", format="json"),
        client.post(f"{URL}{extension.pk}/assign/", {"assignee": lead.pk}, format="json"),
        client.post(f"{URL}{extension.pk}/comments/", {"body": "looks fine"}, format="json"),
    ]
    assert [r.status_code for r in writes] == [403] * len(writes)
    assert {r.json()["code"] for r in writes} == {"permission_denied"}
    assert PaymentExtension.objects.count() == 1
    assert PaymentExtension.objects.get(pk=extension.pk).state == "requested"


def test_history_lists_every_transition_in_order(api, specialist, specialist2):
    extension = make(specialist, days=5)
    transition(api(specialist2), extension.pk, "approve", reason="fine")

    rows = api(specialist).get(f"{URL}{extension.pk}/history/").json()

    assert [(r["transition"], r["source"], r["target"], r["actor"]) for r in rows] == [
        ("create", "", "requested", "spec1"), ("approve", "requested", "approved", "spec2")]
    assert rows[1]["reason"] == "fine" and rows[1]["prev_hash"] == rows[0]["hash"]


# --- list and filters ---------------------------------------------------------------------------------


def test_list_filters(api, specialist, lead):
    eur_customer = CustomerFactory(default_currency="EUR", name="Rhein Compute GmbH")
    short = make(specialist, days=3)
    long = make(specialist, days=40)
    eur = make(specialist, days=12, invoice=InvoiceFactory(customer=eur_customer))
    extension_approve(extension_id=long.pk, actor=lead, reason="ok")
    PaymentExtension.objects.filter(pk=eur.pk).update(assignee=lead)
    client = api(specialist)

    def refs(query):
        response = client.get(f"{URL}?{query}")
        assert response.status_code == 200, response.json()
        return {r["reference"] for r in response.json()["results"]}

    assert refs("state=approved") == {long.reference}
    assert refs("state=requested") == {short.reference, eur.reference}
    assert refs("currency=eur") == {eur.reference}
    assert refs(f"customer={eur_customer.pk}") == {eur.reference}
    assert refs("days_min=10&days_max=20") == {eur.reference}
    assert refs(f"due_before={short.new_due_date.isoformat()}") == {short.reference}
    assert refs(f"due_after={long.new_due_date.isoformat()}") == {long.reference}
    assert refs(f"assignee={lead.pk}") == {eur.reference}
    assert refs("q=Rhein") == {eur.reference}
    assert refs(f"q={short.reference.lower()}") == {short.reference}
    assert refs(f"q={long.invoice.number}") == {long.reference}
    bad = client.get(f"{URL}?due_before=someday")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"


def test_list_runs_a_fixed_number_of_queries_without_count(api, specialist):
    client = api(specialist)
    make(specialist, days=3)
    with CaptureQueriesContext(connection) as few:
        assert client.get(URL).status_code == 200
    for days in range(4, 12):
        make(specialist, days=days)
    with CaptureQueriesContext(connection) as many:
        body = client.get(URL).json()
    assert len(body["results"]) == 9
    assert len(many.captured_queries) == len(few.captured_queries)
    assert not any("COUNT(" in q["sql"].upper() for q in many.captured_queries)


def test_the_schema_documents_the_extension_endpoints(api, specialist):
    response = api(specialist).get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/extensions/" in paths and "post" in paths["/api/v1/extensions/"]
    assert "/api/v1/extensions/{id}/transitions/{name}/" in paths


# --- concurrency on PostgreSQL ---------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_for_one_invoice_make_exactly_one_open_extension(specialist, specialist2):
    invoice = InvoiceFactory(issued_at=datetime.now(UTC) - timedelta(days=5),
                             due_at=datetime.now(UTC) + timedelta(days=5))
    barrier = threading.Barrier(2)
    results: list[str] = []

    def attempt(user, days):
        try:
            barrier.wait(5)
            make(user, days=days, invoice=invoice)
            results.append("ok")
        except (DomainError, DatabaseError) as err:
            results.append(getattr(err, "code", repr(err)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(specialist, 5)),
               threading.Thread(target=attempt, args=(specialist2, 6))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)

    assert sorted(results) == ["extension_already_open", "ok"]
    assert PaymentExtension.objects.filter(invoice=invoice, state__in=["requested", "approved"]).count() == 1
    created = PaymentExtension.objects.get(invoice=invoice)
    assert JournalEntry.objects.filter(case_type="extension", case_id=created.pk).count() == 1
    assert connection.vendor == "postgresql"
