"""The dispute pages: the case page, evidence upload, transitions, manual entry, the queue, the packet."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from pypdf import PdfReader

from backoffice.journal.models import JournalEntry
from disputes.models import Dispute, EvidenceItem
from disputes.services import evidence_add
from disputes.templatetags.dispute_tags import due_css_class, time_left_text
from tests.invoices.factories import PaymentFactory

from .conftest import add_complete_evidence, media_files
from .factories import DisputeFactory, png_bytes, reason, upload, usage_csv


def detail(dispute) -> str:
    return f"/disputes/{dispute.pk}/"


def act(client, dispute, name: str, **data):
    return client.post(f"/cases/disputes/{dispute.pk}/transition/{name}/",
                       {"expected_state": dispute.state, **data}, follow=True)


@pytest.mark.django_db
def test_the_dispute_page_shows_facts_deadline_checklist_and_the_specialists_actions(as_user, specialist):
    dispute = DisputeFactory(assignee=specialist, due_at=timezone.now() + timedelta(hours=60))
    evidence_add(dispute_id=dispute.pk, actor=specialist, kind="usage_logs", text="731 GPU-hours in November")

    page = as_user(specialist).get(detail(dispute))

    html = page.content.decode()
    assert page.status_code == 200
    for expected in (dispute.reference, "13.1", "Merchandise/services not received", "$100.00",
                     dispute.psp_dispute_id, dispute.payment.invoice.number, "50%", "731 GPU-hours in November",
                     "Customer communication", f"/disputes/{dispute.pk}/packet.pdf?preview=1", 'name="kind"',
                     'type="file"'):
        assert expected in html, expected
    # 60 h to the PSP's deadline, 12 h to ours: both close, shown with the time left.
    assert 'class="due-close"' in html and "h left" in html
    # Evidence is missing, so submitting would be refused: no button, but what is missing and who may override.
    assert 'data-transition="submit_evidence"' not in html and "Add the missing evidence to submit" in html
    assert 'data-transition="accept"' not in html and 'name="override"' not in html
    # A specialist cannot accept, but can propose it to a team lead.
    assert 'data-form="propose-accept"' in html

    evidence_add(dispute_id=dispute.pk, actor=specialist, kind="customer_communication", text="Ticket #4411")
    html = as_user(specialist).get(detail(dispute)).content.decode()
    assert 'data-transition="submit_evidence"' in html


@pytest.mark.django_db
def test_a_team_lead_sees_accept_and_the_override_checkbox(as_user, lead):
    dispute = DisputeFactory(due_at=timezone.now() + timedelta(hours=30))

    html = as_user(lead).get(detail(dispute)).content.decode()

    assert 'data-transition="accept"' in html and 'name="override"' in html


@pytest.mark.django_db
def test_past_the_network_deadline_submit_evidence_is_not_offered(as_user, lead):
    dispute = DisputeFactory(due_at=timezone.now() - timedelta(hours=1))

    html = as_user(lead).get(detail(dispute)).content.decode()

    assert 'class="due-past"' in html and "overdue by" in html
    assert 'data-transition="submit_evidence"' not in html and 'name="override"' not in html
    assert "deadline has passed" in html
    assert 'data-transition="accept"' in html  # conceding is still possible


@pytest.mark.django_db
def test_through_the_pages_a_specialist_uploads_evidence_and_submits(as_user, specialist):
    dispute = DisputeFactory(assignee=specialist)
    client = as_user(specialist)

    uploaded = client.post(f"/disputes/{dispute.pk}/evidence/", {
        "kind": "usage_logs", "text": "GPU hours after the charge", "file": upload("usage.csv", usage_csv())},
        follow=True)
    assert "Evidence added" in uploaded.content.decode()
    client.post(f"/disputes/{dispute.pk}/evidence/", {"kind": "customer_communication", "text": "E-mail thread"})
    assert "100%" in client.get(detail(dispute)).content.decode()

    page = act(client, dispute, "submit_evidence", reason="complete before the deadline")

    assert page.status_code == 200
    dispute.refresh_from_db()
    assert dispute.state == "under_review"
    assert 'data-state="under_review"' in page.content.decode()
    packet = client.get(f"/disputes/{dispute.pk}/packet.pdf")
    assert packet.status_code == 200 and packet["Content-Type"] == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(packet.content)).pages)
    for expected in (dispute.reference, "13.1", "usage_logs", "customer_communication"):
        assert expected in text


@pytest.mark.django_db
def test_incomplete_and_late_submissions_are_refused_on_the_page(as_user, specialist):
    client = as_user(specialist)
    incomplete = DisputeFactory(assignee=specialist)
    late = DisputeFactory(assignee=specialist, due_at=timezone.now() - timedelta(minutes=5))
    add_complete_evidence(late, specialist)

    first = act(client, incomplete, "submit_evidence").content.decode()
    second = act(client, late, "submit_evidence").content.decode()

    assert "evidence_incomplete" in first and "Proof of delivery or Usage logs" in first
    assert "deadline_passed" in second
    assert set(Dispute.objects.values_list("state", flat=True)) == {"needs_response"}


@pytest.mark.django_db
def test_a_team_lead_overrides_on_the_page_and_the_reason_is_in_the_timeline(as_user, lead):
    dispute = DisputeFactory()

    page = act(as_user(lead), dispute, "submit_evidence", override="1", reason="Customer admitted usage in writing.")

    dispute.refresh_from_db()
    assert dispute.state == "under_review" and dispute.evidence_overridden
    assert "Customer admitted usage in writing." in page.content.decode()
    row = JournalEntry.objects.filter(case_id=dispute.pk, case_type="dispute").order_by("seq").last()
    assert row.context["evidence_override"] is True and row.reason == "Customer admitted usage in writing."


@pytest.mark.django_db
def test_a_specialist_gets_403_on_accept(as_user, specialist):
    dispute = DisputeFactory(assignee=specialist)
    assert act(as_user(specialist), dispute, "accept").status_code == 403
    assert Dispute.objects.get(pk=dispute.pk).state == "needs_response"


@pytest.mark.django_db
def test_an_auditor_reads_everything_and_gets_403_on_every_write(as_user, auditor, specialist):
    client = as_user(auditor)
    dispute = DisputeFactory(assignee=specialist)
    payment = PaymentFactory()

    page = client.get(detail(dispute)).content.decode()
    assert dispute.reference in page and 'type="file"' not in page and "data-transition" not in page
    assert client.get(f"/disputes/{dispute.pk}/packet.pdf?preview=1").status_code == 200
    for name in ("open_chargeback", "close_inquiry", "submit_evidence", "accept", "expire", "mark_won",
                 "mark_lost", "reopen"):
        assert act(client, dispute, name).status_code == 403, name
    assert client.post(f"/disputes/{dispute.pk}/evidence/", {"kind": "other", "text": "x"}).status_code == 403
    assert client.post(f"/cases/disputes/{dispute.pk}/comment/", {"body": "fine"}).status_code == 403
    assert client.post(f"/cases/disputes/{dispute.pk}/claim/").status_code == 403
    assert client.get("/disputes/new/").status_code == 403
    assert client.post("/disputes/new/", {"payment": payment.pk, "amount": "1.00", "currency": "USD",
                                          "network": "visa", "reason_code": reason("13.1").pk, "psp": "stripe",
                                          "psp_dispute_id": "dp_x", "stage": "chargeback"}).status_code == 403
    assert Dispute.objects.count() == 1 and not EvidenceItem.objects.exists()
    assert list(JournalEntry.objects.values_list("transition", flat=True)) == ["create"]


@pytest.mark.django_db
def test_a_mismatched_upload_on_the_page_is_refused_and_nothing_is_stored(as_user, specialist):
    dispute = DisputeFactory(assignee=specialist)
    files_before = media_files()

    page = as_user(specialist).post(f"/disputes/{dispute.pk}/evidence/", {
        "kind": "proof_of_delivery", "text": "", "file": upload("proof.jpg", png_bytes())}, follow=True)

    assert "file_content_mismatch" in page.content.decode()
    assert not EvidenceItem.objects.exists() and media_files() == files_before


@pytest.mark.django_db
def test_manual_entry_records_a_dispute_from_a_decimal_amount(as_user, specialist):
    payment = PaymentFactory()
    client = as_user(specialist)
    assert 'name="psp_dispute_id"' in client.get("/disputes/new/").content.decode()

    response = client.post("/disputes/new/", {
        "payment": payment.psp_reference, "amount": "75.50", "currency": "usd", "network": "visa",
        "reason_code": reason("13.1").pk, "psp": "stripe", "psp_dispute_id": "dp_manual_1", "stage": "chargeback",
        "due_at": "2099-05-01T10:00"})

    dispute = Dispute.objects.get()
    assert response.status_code == 302 and response["Location"] == detail(dispute)
    assert (dispute.amount_minor, dispute.currency, dispute.due_at.isoformat()) == (
        7550, "USD", "2099-05-01T10:00:00+00:00")
    assert JournalEntry.objects.get(case_id=dispute.pk).actor_label == "spec1"
    call_command("verify_journal")


@pytest.mark.django_db
@pytest.mark.parametrize("changes, message", [
    ({"amount": "75.505"}, "too many decimal places"),
    ({"amount": "1,000.00"}, "not a valid amount"),
    ({"amount": "100.01"}, "amount_exceeds_captured"),
    ({"currency": "ABC"}, "not a known currency"),
    ({"payment": "ch_nope"}, "No payment has the id or PSP reference"),
    ({"network": "mastercard"}, "network_mismatch"),
    ({"psp_dispute_id": ""}, "This field is required"),
])
def test_manual_entry_shows_clear_errors_and_saves_nothing(as_user, specialist, changes, message):
    payment = PaymentFactory()
    data = {"payment": str(payment.pk), "amount": "75.50", "currency": "USD", "network": "visa",
            "reason_code": reason("13.1").pk, "psp": "stripe", "psp_dispute_id": "dp_manual_2",
            "stage": "chargeback"}

    response = as_user(specialist).post("/disputes/new/", {**data, **changes})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Dispute.objects.exists()


@pytest.mark.django_db
def test_the_dispute_queue_lists_filters_and_highlights_deadlines(as_user, specialist):
    now = timezone.now()
    close = DisputeFactory(assignee=specialist, due_at=now + timedelta(hours=70))
    overdue = DisputeFactory(assignee=specialist, due_at=now + timedelta(hours=20))
    amex = DisputeFactory(payment__network="amex", network="amex", reason_code=reason("C08", "amex"),
                          due_at=now + timedelta(days=15))
    client = as_user(specialist)

    html = client.get("/queues/all/", {"type": "disputes"}).content.decode()
    for dispute in (close, overdue, amex):
        assert f'href="/disputes/{dispute.pk}/"' in html
    assert html.index(overdue.reference) < html.index(close.reference) < html.index(amex.reference)
    assert "due-past" in html and "due-close" in html and "Consumer dispute" in html and "$100.00" in html
    assert 'name="ids"' in html and 'aria-label="Select all cases on this page"' in html
    assert f'aria-label="Select {close.reference}"' in html

    filtered = client.get("/queues/all/", {"type": "disputes", "network": "amex"}).content.decode()
    assert amex.reference in filtered and close.reference not in filtered
    mine = client.get("/queues/overdue/", {"type": "disputes"}).content.decode()
    assert overdue.reference in mine and close.reference not in mine
    assert client.get("/disputes/").status_code == 302


def test_time_left_reads_like_a_person_would_say_it():
    now = timezone.now()
    assert time_left_text(now + timedelta(days=2, hours=5, minutes=3), now=now) == "2 d 5 h left"
    assert time_left_text(now + timedelta(minutes=40, seconds=5), now=now) == "40 min left"
    assert time_left_text(now - timedelta(hours=3, minutes=10), now=now) == "overdue by 3 h 10 min"
    assert time_left_text(None) == ""
    assert due_css_class(now + timedelta(hours=71), now=now) == "due-close"
    assert due_css_class(now + timedelta(hours=73), now=now) == ""
    assert due_css_class(now - timedelta(seconds=1), now=now) == "due-past"
