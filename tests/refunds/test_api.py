"""/api/v1/refunds/ and /api/v1/payments/: the contract fields, Idempotency-Key, transitions, refusals."""

import pytest

from backoffice.api.models import IdempotencyRecord
from refunds.models import Refund
from refunds.services import refund_approve, refund_request
from tests.invoices.factories import PaymentFactory

from .factories import RefundFactory, request_refund

pytestmark = pytest.mark.django_db

CONTRACT_FIELDS = {"id", "reference", "state", "assignee", "created_at", "payment", "amount_minor", "currency",
                   "reason", "note", "requester", "approvals"}


def create(client, body, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post("/api/v1/refunds/", body, format="json", **headers)


def transition(client, refund, name, **body):
    return client.post(f"/api/v1/refunds/{refund.pk}/transitions/{name}/", body, format="json")


def test_create_returns_the_refund_with_the_contract_fields(api, specialist):
    payment = PaymentFactory(currency="EUR", amount_minor=9000)

    response = create(api(specialist), {"payment": payment.pk, "amount_minor": 1250, "reason": "billing_error",
                                         "note": "Wrong plan billed"})

    assert response.status_code == 201, response.json()
    data = response.json()
    assert CONTRACT_FIELDS <= set(data)
    assert data["reference"] == f"RFD-{data['id']:06d}"
    assert (data["state"], data["payment"], data["amount_minor"], data["currency"]) == (
        "pending_approval", payment.pk, 1250, "EUR")
    assert (data["reason"], data["note"], data["approvals"]) == ("billing_error", "Wrong plan billed", [])
    assert data["requester"] == {"id": specialist.pk, "username": "spec1"}
    assert data["amount_display"] == "€12.50" and data["credit_note"] is None


def test_the_same_idempotency_key_and_body_returns_the_first_response_another_body_is_422(api, specialist):
    client = api(specialist)
    payment = PaymentFactory()
    body = {"payment": payment.pk, "amount_minor": 500, "reason": "goodwill"}

    first = create(client, body, key="abc-1")
    again = create(client, body, key="abc-1")
    other = create(client, {**body, "amount_minor": 600}, key="abc-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert Refund.objects.count() == 1
    assert Refund.objects.get().idempotency_key == "abc-1"


def test_the_idempotency_key_is_the_refunds_own_one_layer_whichever_way_the_refund_came(api, specialist):
    """The header is the refund's ``idempotency_key`` (unique per requester): a refund requested with a key by
    the service (as the request form does) is the one the API answers for that key; no second record is kept."""
    payment = PaymentFactory()
    first = refund_request(payment=payment, requester=specialist, amount_minor=700, reason="goodwill",
                           idempotency_key="form-7")

    again = create(api(specialist), {"payment": payment.pk, "amount_minor": 700, "reason": "goodwill"}, key="form-7")

    assert again.status_code == 201 and again.json()["id"] == first.pk and again["Idempotent-Replayed"] == "true"
    assert Refund.objects.count() == 1 and not IdempotencyRecord.objects.exists()


def test_over_the_refundable_amount_is_409_and_says_what_is_left(api, specialist):
    payment = PaymentFactory(amount_minor=10000)
    request_refund(requester=specialist, payment=payment, amount_minor=6000)

    response = create(api(specialist), {"payment": payment.pk, "amount_minor": 6000, "reason": "goodwill"})

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "refund_exceeds_refundable" and "$40.00 left" in body["detail"]
    assert body["refundable_minor"] == 4000


@pytest.mark.parametrize(("body", "code"), [
    ({"amount_minor": 12.5, "reason": "goodwill"}, "invalid"),
    ({"amount_minor": "12.50", "reason": "goodwill"}, "invalid"),
    ({"amount_minor": 12.0, "reason": "goodwill"}, "invalid"),
    ({"amount_minor": "\u00b2", "reason": "goodwill"}, "invalid"),
    ({"amount_minor": 2**64, "reason": "goodwill"}, "invalid"),
    ({"amount_minor": 100, "reason": "nope"}, "invalid"),
    ({"amount_minor": 0, "reason": "goodwill"}, "amount_not_positive"),
    ({"amount_minor": 100, "reason": "goodwill", "currency": "GBP"}, "currency_mismatch"),
    ({"amount_minor": 100}, "invalid"),
])
def test_bad_input_is_400_never_500(api, specialist, body, code):
    payment = PaymentFactory()
    response = create(api(specialist), {"payment": payment.pk, **body})
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == code
    assert Refund.objects.count() == 0


def test_an_unknown_payment_is_400(api, specialist):
    response = create(api(specialist), {"payment": 987654, "amount_minor": 100, "reason": "goodwill"})
    assert response.status_code == 400 and response.json()["code"] == "unknown_payment"


def test_a_lead_approves_through_the_api_and_sees_the_approval(api, specialist, lead, commit):
    refund = request_refund(requester=specialist, amount_minor=2500)

    with commit():
        response = transition(api(lead), refund, "approve", reason="Duplicate capture confirmed",
                              expected_state="pending_approval")

    assert response.status_code == 200, response.json()
    [approval] = response.json()["approvals"]
    assert approval["approver"] == {"id": lead.pk, "username": "lead1"}
    assert (approval["step"], approval["decision"], approval["reason"]) == (1, "approved",
                                                                           "Duplicate capture confirmed")
    assert Refund.objects.get(pk=refund.pk).state == "succeeded"
    assert api(lead).get(f"/api/v1/refunds/{refund.pk}/").json()["credit_note"].startswith("CN-")


@pytest.mark.parametrize("name", ["approve", "reject"])
def test_the_requesters_own_decision_is_403_even_for_a_superuser(api, lead, superuser_lead, name):
    for requester in (lead, superuser_lead):
        refund = request_refund(requester=requester)
        response = transition(api(requester), refund, name, reason="I checked it myself")
        assert response.status_code == 403
        assert response.json()["code"] == "self_approval_forbidden"
        assert Refund.objects.get(pk=refund.pk).state == "pending_approval"


def test_decision_refusals_have_their_codes(api, specialist, specialist2, lead, lead2):
    refund = request_refund(requester=specialist)
    assert transition(api(specialist2), refund, "approve", reason="ok").json()["code"] == "approval_limit_exceeded"
    response = transition(api(lead), refund, "approve", reason="")
    assert (response.status_code, response.json()["code"]) == (400, "reason_required")

    dual = request_refund(requester=specialist, amount_minor=150000, payment=PaymentFactory(amount_minor=200000))
    assert transition(api(lead), dual, "approve", reason="first").json()["state"] == "pending_second_approval"
    response = transition(api(lead), dual, "approve", reason="again")
    assert (response.status_code, response.json()["code"]) == (403, "same_approver")

    response = transition(api(lead2), RefundFactory(requester=specialist, state="rejected"), "approve", reason="x")
    assert (response.status_code, response.json()["code"]) == (409, "transition_not_allowed")
    response = transition(api(lead), request_refund(requester=specialist), "approve", reason="x",
                          expected_state="approved")
    assert (response.status_code, response.json()["code"]) == (409, "concurrent_change")


def test_the_auditor_gets_403_on_every_write(api, auditor, specialist, lead):
    client = api(auditor)
    payment = PaymentFactory()
    refund = request_refund(requester=specialist, payment=payment)
    failed = RefundFactory(requester=specialist, state="failed")

    writes = [
        create(client, {"payment": payment.pk, "amount_minor": 100, "reason": "goodwill"}),
        *[transition(client, refund, name, reason="audit") for name in ("approve", "reject", "cancel")],
        transition(client, failed, "retry", reason="audit"),
        client.post(f"/api/v1/refunds/{refund.pk}/claim/"),
        client.post(f"/api/v1/refunds/{refund.pk}/assign/", {"assignee": lead.pk}, format="json"),
        client.post(f"/api/v1/refunds/{refund.pk}/comments/", {"body": "hi"}, format="json"),
        client.put(f"/api/v1/refunds/{refund.pk}/", {}, format="json"),
        client.delete(f"/api/v1/refunds/{refund.pk}/"),
        client.post("/api/v1/payments/", {}, format="json"),
    ]

    assert [r.status_code for r in writes] == [403] * len(writes)
    assert {r.json()["code"] for r in writes} == {"permission_denied"}
    assert Refund.objects.get(pk=refund.pk).state == "pending_approval" and Refund.objects.count() == 2
    assert client.get("/api/v1/refunds/").status_code == 200


def test_list_filters_and_a_fixed_number_of_queries(api, specialist, lead, django_assert_max_num_queries):
    client = api(lead)
    for i in range(3):
        refund = request_refund(requester=specialist, amount_minor=1000 + i)
    refund_approve(refund=refund, actor=lead, reason="ok", submit=False)
    RefundFactory(requester=specialist, payment=PaymentFactory(currency="EUR"), state="cancelled")

    with django_assert_max_num_queries(8) as few:
        few_rows = client.get("/api/v1/refunds/").json()
    for i in range(10):
        request_refund(requester=specialist, amount_minor=10 + i)
    with django_assert_max_num_queries(len(few)):
        many_rows = client.get("/api/v1/refunds/?page_size=100").json()

    assert len(few_rows["results"]) == 4 and len(many_rows["results"]) == 14
    assert few_rows["next"] is None
    assert [r["currency"] for r in client.get("/api/v1/refunds/?currency=eur").json()["results"]] == ["EUR"]
    assert {r["state"] for r in client.get("/api/v1/refunds/?state=approved").json()["results"]} == {"approved"}
    assert [r["reference"] for r in client.get(f"/api/v1/refunds/?q={refund.reference}").json()["results"]] == [
        refund.reference]
    assert len(client.get(f"/api/v1/refunds/?assignee={specialist.pk}").json()["results"]) == 14
    assert client.get("/api/v1/refunds/?due_before=2000-01-01T00:00:00Z").json()["results"] == []
    assert len(client.get("/api/v1/refunds/?due_after=2000-01-01T00:00:00Z").json()["results"]) == 13
    page = client.get("/api/v1/refunds/?page_size=5").json()
    assert len(page["results"]) == 5 and page["next"]
    bad = client.get("/api/v1/refunds/?due_before=yesterday")
    assert bad.status_code == 400


def test_history_is_the_refunds_journal(api, specialist, lead):
    refund = request_refund(requester=specialist)
    refund_approve(refund=refund, actor=lead, reason="fine", submit=False)

    rows = api(specialist).get(f"/api/v1/refunds/{refund.pk}/history/").json()

    assert [(r["transition"], r["source"], r["target"], r["actor"]) for r in rows] == [
        ("create", "", "pending_approval", "spec1"), ("approve", "pending_approval", "approved", "lead1")]
    assert rows[1]["reason"] == "fine" and rows[1]["prev_hash"] == rows[0]["hash"]


def test_the_credit_note_pdf_for_a_succeeded_refund(api, specialist, lead, auditor, commit):
    refund = request_refund(requester=specialist, amount_minor=4321)
    with commit():
        refund_approve(refund=refund, actor=lead, reason="ok")
    refund = Refund.objects.get(pk=refund.pk)

    for accept in ("application/pdf", "*/*"):
        response = api(auditor).get(f"/api/v1/refunds/{refund.pk}/credit-note.pdf", HTTP_ACCEPT=accept)
        assert response.status_code == 200, accept
        assert response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")
        assert f"CN-{refund.succeeded_at.year}-{refund.pk:06d}.pdf" in response["Content-Disposition"]

    pending = request_refund(requester=specialist)
    response = api(auditor).get(f"/api/v1/refunds/{pending.pk}/credit-note.pdf")
    assert (response.status_code, response.json()["code"]) == (409, "credit_note_unavailable")
    assert api(auditor).get("/api/v1/refunds/999999/credit-note.pdf").status_code == 404


def test_payments_carry_what_is_left_to_refund_without_n_plus_one(api, specialist, auditor,
                                                                  django_assert_max_num_queries):
    payments = [PaymentFactory(amount_minor=10000) for _ in range(3)]
    request_refund(requester=specialist, payment=payments[0], amount_minor=2500)
    client = api(auditor)

    with django_assert_max_num_queries(6) as few:
        rows = client.get("/api/v1/payments/").json()["results"]
    for _ in range(8):
        PaymentFactory()
    with django_assert_max_num_queries(len(few)):
        assert len(client.get("/api/v1/payments/").json()["results"]) == 11

    by_id = {r["id"]: r for r in rows}
    assert by_id[payments[0].pk]["refundable_minor"] == 7500
    assert by_id[payments[1].pk]["refundable_minor"] == 10000
    assert {"amount_minor", "currency", "network", "refundable_minor"} <= set(rows[0])
    one = client.get(f"/api/v1/payments/{payments[0].pk}/").json()
    assert (one["refundable_minor"], one["network"], one["currency"]) == (7500, "visa", "USD")
    assert client.get("/api/v1/payments/?currency=usd").status_code == 200


def test_no_role_no_refunds(api, django_user_model):
    nobody = django_user_model.objects.create_user("nobody")
    assert api(nobody).get("/api/v1/refunds/").status_code == 403
    assert api().get("/api/v1/refunds/").status_code in (401, 403)


def test_the_schema_documents_the_refund_endpoints(api, lead):
    response = api(lead).get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/v1/refunds/", "/api/v1/refunds/{id}/transitions/{name}/", "/api/v1/payments/",
            "/api/v1/refunds/{id}/history/"} <= set(paths)
    assert "refundable_minor" in response.json()["components"]["schemas"]["Payment"]["properties"]
