"""Every refusal leaves exactly one denied-attempt row, on every interface, even when the transaction
around it is rolled back (backoffice/denials.py). These tests commit for real (transactional), so a
row that a rollback would take away is really gone."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections, transaction

from backoffice.errors import PermissionDenied
from backoffice.journal.models import DeniedAttempt
from refunds.models import Refund
from refunds.services import refund_approve
from tests.invoices.factories import InvoiceFactory, PaymentFactory
from tests.refunds.factories import request_refund

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def denied(**filters):
    return list(DeniedAttempt.objects.filter(**filters).values_list("action", "code"))


def test_a_refusal_inside_a_transaction_the_caller_rolls_back_is_still_recorded(specialist, lead):
    refund = request_refund(requester=lead)

    with transaction.atomic():
        with pytest.raises(PermissionDenied):
            refund_approve(refund=refund, actor=lead, reason="My own, approved by me")
        transaction.set_rollback(True)

    assert denied(case_id=refund.pk, actor_id=lead.pk) == [("approve", "self_approval_forbidden")]


def test_a_refused_api_create_with_an_idempotency_key_is_recorded_once(api, specialist):
    payment = PaymentFactory(amount_minor=10000)
    body = {"payment": payment.pk, "amount_minor": 20000, "reason": "goodwill"}

    response = api(specialist).post("/api/v1/refunds/", body, format="json", HTTP_IDEMPOTENCY_KEY="key-1")

    assert response.status_code == 409 and response.json()["code"] == "refund_exceeds_refundable"
    assert denied(actor_id=specialist.pk) == [("create", "refund_exceeds_refundable")]
    assert not Refund.objects.exists()


def test_an_auditors_api_writes_are_recorded(api, auditor, specialist):
    refund = request_refund(requester=specialist)
    client = api(auditor)

    create = client.post("/api/v1/refunds/", {"payment": refund.payment_id, "amount_minor": 100,
                                              "reason": "goodwill"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    comment = client.post(f"/api/v1/refunds/{refund.pk}/comments/", {"body": "hello"}, format="json")
    approve = client.post(f"/api/v1/refunds/{refund.pk}/transitions/approve/", {"reason": "x"}, format="json")

    assert [create.status_code, comment.status_code, approve.status_code] == [403, 403, 403]
    assert sorted(denied(actor_id=auditor.pk)) == [
        ("approve", "permission_denied"), ("comments", "permission_denied"), ("create", "permission_denied")]
    assert DeniedAttempt.objects.filter(actor_id=auditor.pk, case_id=refund.pk, case_type="refund").count() == 2


def test_with_atomic_requests_a_refused_request_still_leaves_its_row(api, auditor, specialist, monkeypatch):
    refund = request_refund(requester=specialist)
    monkeypatch.setitem(connections.settings["default"], "ATOMIC_REQUESTS", True)

    response = api(auditor).post(f"/api/v1/refunds/{refund.pk}/comments/", {"body": "hello"}, format="json")

    assert response.status_code == 403
    assert denied(actor_id=auditor.pk) == [("comments", "permission_denied")]


def test_an_auditors_page_forms_are_refused_and_recorded(client, auditor, specialist):
    refund = request_refund(requester=specialist)
    invoice = InvoiceFactory()
    client.force_login(auditor)

    statuses = [
        client.post(f"/cases/refunds/{refund.pk}/comment/", {"body": "hello"}).status_code,
        client.post(f"/cases/refunds/{refund.pk}/attach/",
                    {"file": SimpleUploadedFile("a.txt", b"hello")}).status_code,
        client.post(f"/refunds/new/?payment={refund.payment_id}", {"amount": "1.00", "reason": "goodwill"}).status_code,
        client.post(f"/extensions/new/?invoice={invoice.pk}", {"new_due_date": "2030-01-01"}).status_code,
        client.post("/disputes/new/", {"payment": str(refund.payment_id)}).status_code,
    ]

    assert statuses == [403] * 5
    assert sorted(DeniedAttempt.objects.filter(actor_id=auditor.pk).values_list("case_type", "action")) == [
        ("dispute", "create"), ("extension", "request"), ("refund", "attach"), ("refund", "comment"),
        ("refund", "create")]
    assert not DeniedAttempt.objects.filter(actor_id=auditor.pk).exclude(code="permission_denied").exists()


def test_only_a_sent_form_counts_as_a_refusal_not_opening_it(client, auditor):
    client.force_login(auditor)

    assert client.get("/disputes/new/").status_code == 403

    assert denied(actor_id=auditor.pk) == []


def test_a_refused_admin_action_is_recorded_once(client, superuser_lead):
    refund = request_refund(requester=superuser_lead)
    client.force_login(superuser_lead)

    client.post("/admin/refunds/refund/", {"action": "approve_selected", ACTION_CHECKBOX_NAME: [refund.pk],
                                           "index": 0, "confirm": "yes", "reason": "Mine, approved by me"})

    assert denied(case_id=refund.pk) == [("approve", "self_approval_forbidden")]


def test_a_denial_that_cannot_be_written_leaves_the_refusal_intact(lead, monkeypatch, caplog):
    from django.db import OperationalError

    import backoffice.denials

    refund = request_refund(requester=lead)

    def database_gone(row):
        raise OperationalError("the database went away")

    monkeypatch.setattr(backoffice.denials, "_save_outside_transaction", database_gone)
    with pytest.raises(PermissionDenied) as refused:
        refund_approve(refund=refund, actor=lead, reason="My own, approved by me")

    assert refused.value.code == "self_approval_forbidden"
    assert any("denial_not_recorded" in r.getMessage() for r in caplog.records)
    assert Refund.objects.get(pk=refund.pk).state == "pending_approval"
