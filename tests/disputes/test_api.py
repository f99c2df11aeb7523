"""``/api/v1/disputes/``: the REST contract of DESIGN.md, end to end through HTTP."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pypdf import PdfReader

from backoffice.journal.models import JournalEntry
from disputes.models import Dispute, EvidenceItem
from disputes.services import evidence_add
from tests.invoices.factories import PaymentFactory

from .conftest import media_files
from .factories import DisputeFactory, EvidenceItemFactory, png_bytes, reason, upload, usage_csv

CONTRACT_FIELDS = {"id", "reference", "state", "assignee", "created_at", "payment", "amount_minor", "currency",
                   "network", "reason_code", "stage", "due_at", "psp_dispute_id", "required_evidence",
                   "missing_evidence"}


def url(dispute=None, tail: str = "") -> str:
    return "/api/v1/disputes/" + (f"{dispute.pk}/" if dispute is not None else "") + tail


def transition(client, dispute, name: str, **data):
    return client.post(url(dispute, f"transitions/{name}/"), data, format="json")


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


# ---------------------------------------------------------------- reads


@pytest.mark.django_db
def test_list_and_retrieve_carry_the_contract_fields(api, auditor, specialist):
    dispute = DisputeFactory(assignee=specialist, reason_code=reason("10.4"))
    EvidenceItemFactory(dispute=dispute, kind="avs_cvv_result", added_by=specialist)

    listed = api(auditor).get(url())
    assert listed.status_code == 200
    body = listed.json()
    assert set(body) >= {"results", "next"} and body["next"] is None
    [row] = body["results"]
    assert CONTRACT_FIELDS <= set(row)
    assert row["reason_code"] == "10.4" and row["reason_category"] == "fraud"
    assert row["assignee"] == {"id": specialist.pk, "username": "spec1"}
    assert row["required_evidence"] == ["avs_cvv_result", "three_d_secure", "device_ip_history",
                                        "prior_undisputed_transactions"]
    assert row["missing_evidence"] == ["three_d_secure", "device_ip_history", "prior_undisputed_transactions"]
    assert row["evidence_completeness"] == 25
    assert (row["amount_minor"], row["currency"], row["amount_display"]) == (10000, "USD", "$100.00")
    assert row["payment"] == dispute.payment_id and row["internal_due_at"]
    assert 0 < row["internal_due_in_seconds"] <= 10 * 86400

    detail = api(auditor).get(url(dispute))
    assert detail.status_code == 200 and detail.json()["reference"] == dispute.reference


@pytest.mark.django_db
def test_the_list_filters_of_the_contract(api, specialist, specialist2):
    now = timezone.now()
    soon = DisputeFactory(assignee=specialist, due_at=now + timedelta(days=3))
    later = DisputeFactory(assignee=specialist2, due_at=now + timedelta(days=20), currency="EUR",
                           payment__currency="EUR", payment__network="mastercard", network="mastercard",
                           reason_code=reason("4853", "mastercard"), amount_minor=500)
    inquiry = DisputeFactory(state="inquiry", due_at=now + timedelta(days=10), reason_code=reason("10.4"))
    client = api(specialist)

    def ids(**params):
        response = client.get(url(), params)
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids(state="inquiry") == {inquiry.pk}
    assert ids(state=["inquiry", "needs_response"]) == {soon.pk, later.pk, inquiry.pk}
    assert ids(assignee=specialist2.pk) == {later.pk}
    assert ids(due_before=(now + timedelta(days=5)).isoformat()) == {soon.pk}
    assert ids(due_after=(now + timedelta(days=5)).isoformat()) == {later.pk, inquiry.pk}
    assert ids(currency="eur") == {later.pk}
    assert ids(network="mastercard") == {later.pk}
    assert ids(reason_code="4853") == {later.pk}
    assert ids(category="fraud") == {inquiry.pk}
    assert ids(stage="inquiry") == {inquiry.pk}
    assert ids(amount_max=1000) == {later.pk}
    assert ids(due_within=4) == {soon.pk}
    assert ids(q=soon.reference) == {soon.pk}
    assert ids(q=later.psp_dispute_id) == {later.pk}
    assert ids(q=inquiry.payment.customer.name) == {inquiry.pk}
    bad = client.get(url(), {"due_before": "next tuesday"})
    assert bad.status_code == 400 and bad.json()["code"]


@pytest.mark.django_db
def test_pages_hold_at_most_100_and_the_query_count_does_not_grow_with_the_page(api, auditor, specialist):
    client = api(auditor)
    for _ in range(3):
        dispute = DisputeFactory(assignee=specialist)
        EvidenceItemFactory(dispute=dispute, added_by=specialist)
    with CaptureQueriesContext(connection) as small:
        assert len(client.get(url(), {"page_size": 100}).json()["results"]) == 3
    for _ in range(9):
        dispute = DisputeFactory(assignee=specialist)
        EvidenceItemFactory(dispute=dispute, added_by=specialist)
    with CaptureQueriesContext(connection) as large:
        assert len(client.get(url(), {"page_size": 100}).json()["results"]) == 12
    assert len(large) == len(small)
    assert not any("COUNT(" in q["sql"].upper() for q in large.captured_queries)

    page = client.get(url(), {"page_size": 500, "page": 1}).json()
    assert len(page["results"]) == 12 and page["next"] is None
    first = client.get(url(), {"page_size": 5}).json()
    assert len(first["results"]) == 5 and "cursor=" in first["next"]
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 5
    assert not {r["id"] for r in first["results"]} & {r["id"] for r in second["results"]}


@pytest.mark.django_db
def test_anonymous_clients_get_nothing(api):
    DisputeFactory()
    assert api().get(url()).status_code in (401, 403)


# ---------------------------------------------------------------- create


def create_body(the_payment, **changes):
    body = {"payment": the_payment.pk, "amount_minor": 7500, "currency": "USD", "network": "visa",
            "reason_code": "13.1", "psp": "stripe", "psp_dispute_id": "dp_api_1"}
    body.update(changes)
    return body


@pytest.mark.django_db
def test_a_specialist_records_a_dispute(api, specialist):
    payment = PaymentFactory()

    response = api(specialist).post(url(), create_body(payment), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["state"], body["stage"], body["reason_code"], body["amount_minor"]) == (
        "needs_response", "chargeback", "13.1", 7500)
    assert body["missing_evidence"] == ["proof_of_delivery", "usage_logs", "customer_communication"]
    assert body["reference"].startswith("DSP-")


@pytest.mark.django_db
def test_create_by_psp_reference_defaults_network_and_psp_from_the_payment(api, specialist):
    payment = PaymentFactory(network="amex", psp="adyen")
    body = {"payment": payment.psp_reference, "amount_minor": 100, "currency": "USD", "reason_code": "C08",
            "psp_dispute_id": "ADY-1", "due_at": "2099-01-01T12:00:00Z", "stage": "inquiry"}

    response = api(specialist).post(url(), body, format="json")

    assert response.status_code == 201, response.json()
    assert (response.json()["network"], response.json()["state"]) == ("amex", "inquiry")
    assert response.json()["due_at"].startswith("2099-01-01T12:00:00")


@pytest.mark.django_db
@pytest.mark.parametrize("changes, status, code", [
    ({"amount_minor": 10001}, 400, "amount_exceeds_captured"),
    ({"amount_minor": "12.50"}, 400, "invalid"),
    ({"amount_minor": 12.0}, 400, "invalid"),
    ({"amount_minor": 2**64}, 400, "invalid"),
    ({"reason_code": "77.7"}, 400, "unknown_reason_code"),
    ({"currency": "ZZZ"}, 400, "invalid_currency"),
    ({"payment": 999999}, 400, "payment_not_found"),
    ({"due_at": "whenever"}, 400, "invalid"),
])
def test_create_refuses_bad_input_with_json_errors_and_saves_nothing(api, specialist, changes, status, code):
    payment = PaymentFactory()

    response = api(specialist).post(url(), create_body(payment, **changes), format="json")

    assert response.status_code == status
    assert response.json()["code"] == code and response.json()["detail"]
    assert not Dispute.objects.exists()


@pytest.mark.django_db
def test_the_same_psp_dispute_twice_is_a_conflict_and_an_idempotency_key_replays(api, specialist):
    payment = PaymentFactory()
    client = api(specialist)

    first = client.post(url(), create_body(payment), format="json", HTTP_IDEMPOTENCY_KEY="k1")
    replay = client.post(url(), create_body(payment), format="json", HTTP_IDEMPOTENCY_KEY="k1")
    twice = client.post(url(), create_body(payment), format="json")

    assert first.status_code == replay.status_code == 201 and replay.json()["id"] == first.json()["id"]
    assert replay["Idempotent-Replayed"] == "true"
    assert twice.status_code == 409 and twice.json()["code"] == "dispute_exists"
    assert Dispute.objects.count() == 1


# ---------------------------------------------------------------- the "done when", through the API


@pytest.mark.django_db
def test_a_specialist_adds_evidence_and_submits_before_the_deadline(api, specialist):
    dispute = DisputeFactory(assignee=specialist)
    client = api(specialist)

    added = client.post(url(dispute, "evidence/"), {"kind": "usage_logs", "text": "731 GPU-hours after the charge",
                                                   "file": upload("usage.csv", usage_csv(), "text/csv")},
                        format="multipart")
    assert added.status_code == 201, added.json()
    assert added.json()["kind"] == "usage_logs" and len(added.json()["sha256"]) == 64
    assert client.post(url(dispute, "evidence/"), {"kind": "customer_communication",
                                                   "text": "Customer confirmed delivery by e-mail."},
                       format="multipart").status_code == 201
    assert client.get(url(dispute)).json()["missing_evidence"] == []

    response = transition(client, dispute, "submit_evidence", reason="complete")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["state"] == "under_review" and body["packet_sha256"]
    packet = client.get(url(dispute, "packet.pdf"))
    assert packet.status_code == 200 and packet["Content-Type"] == "application/pdf"
    assert packet["X-Packet-Preview"] == "false" and packet["X-Packet-SHA256"] == body["packet_sha256"]
    text = pdf_text(packet.content)
    for expected in (dispute.reference, "13.1", "usage_logs", "customer_communication"):
        assert expected in text


@pytest.mark.django_db
def test_an_incomplete_dispute_is_refused_with_evidence_incomplete(api, specialist):
    dispute = DisputeFactory(assignee=specialist)
    evidence_add(dispute_id=dispute.pk, actor=specialist, kind="usage_logs", text="logs")

    response = transition(api(specialist), dispute, "submit_evidence")

    assert response.status_code == 409
    assert response.json()["code"] == "evidence_incomplete"
    assert response.json()["missing_evidence"] == ["customer_communication"]
    assert "Customer communication" in response.json()["detail"]
    assert Dispute.objects.get(pk=dispute.pk).state == "needs_response"


@pytest.mark.django_db
def test_a_late_submission_is_refused_with_deadline_passed(api, specialist):
    dispute = DisputeFactory(assignee=specialist, due_at=timezone.now() - timedelta(hours=2))

    response = transition(api(specialist), dispute, "submit_evidence")

    assert response.status_code == 409 and response.json()["code"] == "deadline_passed"


@pytest.mark.django_db
def test_a_team_lead_override_succeeds_and_its_reason_is_in_the_history(api, lead, specialist):
    dispute = DisputeFactory(assignee=specialist)
    refused = transition(api(specialist), dispute, "submit_evidence", override=True, reason="please")
    assert refused.status_code == 403 and refused.json()["code"] == "override_not_permitted"

    response = transition(api(lead), dispute, "submit_evidence", override=True,
                          reason="Logs live in the customer's tenant; the e-mail thread is conclusive.")

    assert response.status_code == 200 and response.json()["state"] == "under_review"
    assert response.json()["evidence_overridden"] is True
    history = api(lead).get(url(dispute, "history/")).json()
    last = history[-1]
    assert last["transition"] == "submit_evidence" and last["actor"] == "lead1"
    assert last["reason"] == "Logs live in the customer's tenant; the e-mail thread is conclusive."
    assert last["context"]["evidence_override"] is True


@pytest.mark.django_db
def test_a_specialist_may_not_accept(api, specialist, lead):
    dispute = DisputeFactory(assignee=specialist)

    assert transition(api(specialist), dispute, "accept").status_code == 403
    accepted = transition(api(lead), dispute, "accept", reason="not worth fighting")
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"


@pytest.mark.django_db
def test_an_auditor_gets_403_on_every_write(api, auditor, specialist):
    client = api(auditor)
    payment = PaymentFactory()
    disputes = {state: DisputeFactory(state=state) for state in ("inquiry", "needs_response", "under_review", "won")}
    names = ["open_chargeback", "close_inquiry", "submit_evidence", "accept", "expire", "mark_won", "mark_lost",
             "reopen"]

    for dispute in disputes.values():
        for name in names:
            response = transition(client, dispute, name, reason="audit")
            assert response.status_code == 403, (name, response.json())
            assert response.json()["code"] == "permission_denied"
        assert client.post(url(dispute, "evidence/"), {"kind": "other", "text": "x"}).status_code == 403
        assert client.post(url(dispute, "comments/"), {"body": "looks fine"}, format="json").status_code == 403
        assert client.post(url(dispute, "claim/")).status_code == 403
        assert client.post(url(dispute, "assign/"), {"assignee": specialist.pk}, format="json").status_code == 403
    assert client.post(url(), create_body(payment), format="json").status_code == 403

    assert Dispute.objects.count() == 4 and not EvidenceItem.objects.exists()
    assert set(Dispute.objects.values_list("state", flat=True)) == set(disputes)
    assert set(JournalEntry.objects.values_list("transition", flat=True)) == {"create"}


@pytest.mark.django_db
def test_every_transition_through_the_api_leaves_one_journal_row_and_an_intact_chain(api, specialist, lead):
    dispute = DisputeFactory(state="inquiry", assignee=specialist)
    spec, boss = api(specialist), api(lead)
    steps = [(spec, "open_chargeback", {}), (boss, "submit_evidence", {"override": True, "reason": "lead call"}),
             (boss, "mark_won", {}), (boss, "reopen", {"due_at": (timezone.now() + timedelta(days=30)).isoformat()}),
             (boss, "accept", {"reason": "arbitration fee too high"})]

    for client, name, data in steps:
        before = JournalEntry.objects.filter(case_id=dispute.pk, case_type="dispute").count()
        response = transition(client, dispute, name, **data)
        assert response.status_code == 200, (name, response.json())
        rows = JournalEntry.objects.filter(case_id=dispute.pk, case_type="dispute").order_by("seq")
        assert rows.count() == before + 1 and rows.last().transition == name

    assert spec.get(url(dispute)).json()["stage"] == "pre_arbitration"
    assert transition(boss, dispute, "mark_won").status_code == 409
    call_command("verify_journal")


@pytest.mark.django_db
def test_a_mismatched_upload_is_refused_and_nothing_is_stored(api, specialist):
    dispute = DisputeFactory(assignee=specialist)
    files_before = media_files()

    response = api(specialist).post(url(dispute, "evidence/"), {
        "kind": "proof_of_delivery", "text": "screenshot", "file": upload("delivery.pdf", png_bytes())},
        format="multipart")

    assert response.status_code == 400 and response.json()["code"] == "file_content_mismatch"
    assert not EvidenceItem.objects.exists()
    assert media_files() == files_before


@pytest.mark.django_db
def test_the_packet_is_a_preview_before_submission(api, auditor):
    dispute = DisputeFactory()

    response = api(auditor).get(url(dispute, "packet.pdf"))

    assert response.status_code == 200 and response["X-Packet-Preview"] == "true"
    assert response.content.startswith(b"%PDF-") and "PREVIEW" in pdf_text(response.content)
    assert api(auditor).get(url(None, "999999/packet.pdf")).status_code == 404
