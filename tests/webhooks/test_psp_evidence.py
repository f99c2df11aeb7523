"""Evidence submitted to the PSP after a specialist submits the response: mapped fields and files, once."""

from __future__ import annotations

import base64

import pytest

from backoffice.errors import PermissionDenied
from backoffice.journal.models import JournalEntry
from backoffice.notifications.models import Notification
from disputes.models import PspSubmission
from disputes.psp_evidence import dispute_psp_resubmit
from disputes.services import dispute_submit_evidence, evidence_add
from disputes.tasks import submit_evidence_to_psp
from tests.disputes.factories import DisputeFactory, pdf_bytes, png_bytes, upload
from tests.invoices.factories import PaymentFactory


def ready_dispute(specialist, **kwargs):
    """A Visa 13.1 ("not received") dispute with its checklist complete: usage logs (text and a file),
    customer communication (a PDF) and an invoice (PNG, a second file of its own field)."""
    dispute = DisputeFactory(assignee=specialist, **kwargs)
    evidence_add(dispute_id=dispute.pk, actor=specialist, kind="usage_logs",
                 text="731.25 GPU-hours and 38 logins after the charge.",
                 upload=upload("gpu-usage.png", png_bytes(), "image/png"))
    evidence_add(dispute_id=dispute.pk, actor=specialist, kind="customer_communication",
                 text="The customer confirmed the cluster was running on 3 March.",
                 upload=upload("emails.pdf", pdf_bytes(), "application/pdf"))
    evidence_add(dispute_id=dispute.pk, actor=specialist, kind="service_description",
                 text="Eight A100 GPUs on demand, billed per hour.")
    return dispute


def timeline(dispute):
    return list(JournalEntry.objects.filter(case_type="dispute", case_id=dispute.pk).order_by("seq")
                .values_list("transition", flat=True))


@pytest.mark.django_db
def test_stripe_gets_the_files_and_the_mapped_fields_once_even_when_the_task_runs_twice(
        specialist, fake_stripe, django_capture_on_commit_callbacks):
    dispute = ready_dispute(specialist, psp="stripe", psp_dispute_id="dp_1QevidenceTest")
    fake_stripe.dispute_answers = [(500, "")]  # Stripe fails the first update (and replays that 500 for its key)

    with django_capture_on_commit_callbacks(execute=True):
        dispute_submit_evidence(dispute_id=dispute.pk, actor=specialist)
    submit_evidence_to_psp.apply(args=(dispute.pk,))  # a redelivered task

    uploads = fake_stripe.calls("POST", "/v1/files")
    assert sorted(c["params"]["file"]["filename"] for c in uploads) == sorted([
        f"{dispute.reference}-evidence-packet.pdf", "gpu-usage.png", "emails.pdf"])
    assert {c["params"]["purpose"] for c in uploads} == {"dispute_evidence"}
    assert uploads[0]["params"]["file"]["content"].startswith(b"%PDF-")
    updates = fake_stripe.calls("POST", "/v1/disputes/dp_1QevidenceTest")
    assert len(updates) == 2 and updates[0]["params"] == updates[1]["params"]  # the failed one, then its retry
    assert [u["headers"]["idempotency-key"] for u in updates] == [f"{dispute.reference}-chargeback-g1-submit",
                                                                   f"{dispute.reference}-chargeback-g2-submit"]
    sent = updates[-1]["params"]
    ids = {f["filename"]: f["id"] for f in fake_stripe.files.values()}
    assert sent["submit"] == "true"
    assert sent["evidence[uncategorized_file]"] == ids[f"{dispute.reference}-evidence-packet.pdf"]
    assert sent["evidence[service_documentation]"] == ids["gpu-usage.png"]
    assert sent["evidence[customer_communication]"] == ids["emails.pdf"]
    assert sent["evidence[access_activity_log]"] == "731.25 GPU-hours and 38 logins after the charge."
    assert sent["evidence[product_description]"] == "Eight A100 GPUs on demand, billed per hour."
    assert "The customer confirmed" in sent["evidence[uncategorized_text]"]
    assert sent["evidence[customer_name]"] == dispute.payment.customer.name
    assert fake_stripe.disputes["dp_1QevidenceTest"]["status"] == "under_review"
    submission = PspSubmission.objects.get()
    assert (submission.status, submission.attempts) == ("submitted", 2)  # the redelivered task sent nothing
    assert timeline(dispute)[-2:] == ["submit_evidence", "psp_evidence_submitted"]


@pytest.mark.django_db
def test_a_stripe_refusal_is_on_the_timeline_and_a_lead_sends_it_again(
        client, specialist, lead, fake_stripe, django_capture_on_commit_callbacks):
    dispute = ready_dispute(specialist, psp="stripe", psp_dispute_id="dp_1QrefusedTest")
    fake_stripe.dispute_answers = [(400, "evidence_too_large")]

    with django_capture_on_commit_callbacks(execute=True):
        dispute_submit_evidence(dispute_id=dispute.pk, actor=specialist)

    assert PspSubmission.objects.get().status == "refused"
    assert timeline(dispute)[-1] == "psp_evidence_refused"
    assert Notification.objects.filter(case_id=dispute.pk, kind="psp_refused", recipient=specialist).exists()
    assert Notification.objects.filter(case_id=dispute.pk, kind="psp_refused", recipient=lead).exists()
    submit_evidence_to_psp.apply(args=(dispute.pk,))
    assert len(fake_stripe.calls("POST", "/v1/disputes/")) == 1  # a refusal is not retried by itself

    client.force_login(specialist)
    page = client.get(f"/disputes/{dispute.pk}/").content.decode()
    assert 'data-psp-status="refused"' in page and "Refused: evidence_too_large" in page
    assert "Send to the PSP again" not in page
    with pytest.raises(PermissionDenied):
        dispute_psp_resubmit(dispute_id=dispute.pk, actor=specialist)
    client.force_login(lead)
    assert "Send to the PSP again" in client.get(f"/disputes/{dispute.pk}/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/disputes/{dispute.pk}/psp-resend/", {"confirm": "on"})

    assert PspSubmission.objects.get().status == "submitted"
    assert len(fake_stripe.calls("POST", "/v1/files")) == 3  # files were uploaded once
    assert timeline(dispute)[-3:] == ["psp_evidence_refused", "psp_evidence_resend", "psp_evidence_submitted"]


@pytest.mark.django_db
def test_adyen_gets_the_packet_and_a_defence_once(specialist, fake_adyen, django_capture_on_commit_callbacks):
    payment = PaymentFactory(psp="adyen", psp_reference="8815329842815468", currency="EUR")
    dispute = ready_dispute(specialist, payment=payment, psp="adyen", psp_dispute_id="9915555555555555")

    with django_capture_on_commit_callbacks(execute=True):
        dispute_submit_evidence(dispute_id=dispute.pk, actor=specialist)
    submit_evidence_to_psp.apply(args=(dispute.pk,))

    supplied = fake_adyen.calls("/supplyDefenseDocument")
    defended = fake_adyen.calls("/defendDispute")
    assert len(supplied) == 1 and len(defended) == 1
    document = supplied[0]["body"]["defenseDocuments"][0]
    assert (document["contentType"], document["defenseDocumentTypeCode"]) == ("application/pdf", "DefenseMaterial")
    assert base64.b64decode(document["content"]).startswith(b"%PDF-")
    assert supplied[0]["body"]["disputePspReference"] == "9915555555555555"
    assert defended[0]["body"] == {"merchantAccountCode": "HeliosComputeECOM",
                                   "disputePspReference": "9915555555555555",
                                   "defenseReasonCode": "SupplyDefenseMaterial"}
    assert timeline(dispute)[-1] == "psp_evidence_submitted"


@pytest.mark.django_db
def test_with_the_sandbox_nothing_leaves_and_the_submission_is_recorded(specialist, fake_stripe, settings,
                                                                        django_capture_on_commit_callbacks):
    settings.PAYMENT_GATEWAY = "sandbox"
    dispute = ready_dispute(specialist, psp="stripe")

    with django_capture_on_commit_callbacks(execute=True):
        dispute_submit_evidence(dispute_id=dispute.pk, actor=specialist)

    assert fake_stripe.requests == []
    assert (PspSubmission.objects.get().psp, PspSubmission.objects.get().status) == ("sandbox", "submitted")


@pytest.mark.django_db
def test_evidence_whose_send_never_ran_is_sent_by_the_sweep_once(specialist, fake_stripe,
                                                                 django_capture_on_commit_callbacks):
    """The broker was down when the response was submitted: the send was never enqueued. The periodic
    sweep finds it after a quiet period and sends it, once."""
    from datetime import timedelta

    from django.utils import timezone

    from disputes.psp_evidence import psp_evidence_stalled
    from disputes.tasks import resend_stalled_evidence

    dispute = ready_dispute(specialist, psp="stripe", psp_dispute_id="dp_1QlostSend")
    with django_capture_on_commit_callbacks(execute=False):  # the enqueue after commit is lost
        dispute_submit_evidence(dispute_id=dispute.pk, actor=specialist)
    assert fake_stripe.calls("POST", "/v1/disputes/dp_1QlostSend") == []

    assert psp_evidence_stalled(now=timezone.now() + timedelta(minutes=5)) == []  # too soon: may still be queued
    assert psp_evidence_stalled(now=timezone.now() + timedelta(minutes=11)) == [dispute.pk]

    with django_capture_on_commit_callbacks(execute=True):
        assert resend_stalled_evidence.apply().get() == {"resent": 0}  # the real task: nothing is late yet
    from disputes.psp_evidence import psp_evidence_sweep

    assert psp_evidence_sweep(now=timezone.now() + timedelta(minutes=11)) == [dispute.pk]
    assert psp_evidence_sweep(now=timezone.now() + timedelta(minutes=60)) == []  # submitted: nothing more
    assert len(fake_stripe.calls("POST", "/v1/disputes/dp_1QlostSend")) == 1
    assert PspSubmission.objects.get().status == "submitted"
    assert timeline(dispute)[-1] == "psp_evidence_submitted"


@pytest.mark.django_db
def test_a_send_stuck_half_way_is_resumed_by_the_sweep_without_sending_twice(specialist, fake_stripe,
                                                                             django_capture_on_commit_callbacks):
    """A worker was killed after the files were uploaded: the submission stays "sending". Still retrying
    for 20 minutes it is left alone; after 30 the sweep resumes it and only the missing step is sent."""
    from datetime import timedelta

    from django.utils import timezone

    from disputes.psp_evidence import psp_evidence_sweep

    dispute = ready_dispute(specialist, psp="stripe", psp_dispute_id="dp_1QkilledWorker")
    fake_stripe.dispute_answers = [(500, "")] * 20  # the dispute update keeps failing: the worker "dies" there
    with django_capture_on_commit_callbacks(execute=False):
        dispute_submit_evidence(dispute_id=dispute.pk, actor=specialist)
    from backoffice.gateway import GatewayTransientError
    from disputes.psp_evidence import dispute_psp_submit

    with pytest.raises(GatewayTransientError):
        dispute_psp_submit(dispute_id=dispute.pk)
    uploads_before = len(fake_stripe.calls("POST", "/v1/files"))
    assert uploads_before == 3 and PspSubmission.objects.get().status == "sending"
    fake_stripe.dispute_answers = []

    assert psp_evidence_sweep(now=timezone.now() + timedelta(minutes=20)) == []
    assert psp_evidence_sweep(now=timezone.now() + timedelta(minutes=31)) == [dispute.pk]
    assert len(fake_stripe.calls("POST", "/v1/files")) == uploads_before  # files are not uploaded again
    assert PspSubmission.objects.get().status == "submitted"


@pytest.mark.django_db
def test_with_the_sandbox_the_sweep_has_nothing_to_send(specialist, settings, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from disputes.psp_evidence import psp_evidence_stalled

    settings.PAYMENT_GATEWAY = "sandbox"
    dispute = ready_dispute(specialist, psp="stripe", psp_dispute_id="dp_1Qsandbox")
    with django_capture_on_commit_callbacks(execute=False):
        dispute_submit_evidence(dispute_id=dispute.pk, actor=specialist)
    assert psp_evidence_stalled(now=timezone.now() + timedelta(days=1)) == []
