"""Evidence a lead can open, one upload path into the packet, PDFs merged into it, an editable cover letter,
and a specialist's proposal to accept liability landing in the team leads' approvals queue."""

from __future__ import annotations

import io

import pytest
from django.contrib.contenttypes.models import ContentType
from pypdf import PdfReader

from backoffice.cases.models import Attachment
from backoffice.errors import Conflict, PermissionDenied
from backoffice.pdf import render_pdf
from disputes.models import AcceptanceProposal, CoverLetterTemplate, Dispute, EvidenceItem
from disputes.packet import packet_render, packet_snapshot
from disputes.services import dispute_accept, dispute_propose_accept, evidence_add

from .factories import DisputeFactory, png_bytes, upload

pytestmark = pytest.mark.django_db


def usage_report_pdf(pages: int = 2) -> bytes:
    body = "".join(f'<p style="page-break-after: always">GPU usage report page {n} for November</p>'
                   for n in range(1, pages + 1))
    return render_pdf(f"<html><body>{body}</body></html>")


def packet_text(pdf: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return len(reader.pages), "\n".join(page.extract_text() or "" for page in reader.pages)


def test_every_evidence_file_opens_for_readers_of_the_case_and_only_them(client, dispute, specialist, auditor,
                                                                         django_user_model):
    pdf = evidence_add(dispute_id=dispute.pk, actor=specialist, kind="usage_logs",
                       upload=upload("usage.pdf", usage_report_pdf(1)))
    image = evidence_add(dispute_id=dispute.pk, actor=specialist, kind="proof_of_delivery",
                         upload=upload("login.png", png_bytes()))
    log = evidence_add(dispute_id=dispute.pk, actor=specialist, kind="device_ip_history",
                       upload=upload("ips.csv", b"ip,first_seen\n10.0.0.1,2026-11-01\n"))
    client.force_login(auditor)
    page = client.get(f"/disputes/{dispute.pk}/").content.decode()
    for item in (pdf, image, log):
        assert f'href="/disputes/{dispute.pk}/evidence/{item.pk}/file"' in page

    opened = client.get(f"/disputes/{dispute.pk}/evidence/{pdf.pk}/file")
    assert opened.status_code == 200 and opened["Content-Type"] == "application/pdf"
    assert opened["Content-Disposition"].startswith("inline") and b"".join(opened.streaming_content)[:5] == b"%PDF-"
    assert client.get(f"/disputes/{dispute.pk}/evidence/{image.pk}/file")["Content-Disposition"].startswith("inline")
    download = client.get(f"/disputes/{dispute.pk}/evidence/{log.pk}/file")
    assert download["Content-Disposition"].startswith("attachment") and 'filename="ips.csv"' in \
        download["Content-Disposition"]
    assert download["X-Content-Type-Options"] == "nosniff"
    other = DisputeFactory()
    assert client.get(f"/disputes/{other.pk}/evidence/{pdf.pk}/file").status_code == 404  # not that case's file

    client.force_login(django_user_model.objects.create_user("norole", password="x"))
    assert client.get(f"/disputes/{dispute.pk}/evidence/{pdf.pk}/file").status_code == 404
    client.logout()
    assert client.get(f"/disputes/{dispute.pk}/evidence/{pdf.pk}/file").status_code == 302  # to the login page
    assert pdf.file.url.startswith("/media/") and client.get(pdf.file.url).status_code == 404  # no public URL


def test_a_file_uploaded_to_a_dispute_is_evidence_and_reaches_the_packet(client, dispute, specialist):
    client.force_login(specialist)
    client.post(f"/cases/disputes/{dispute.pk}/attach/", {"file": upload("ticket.txt", b"Customer: it works!\n")})
    item = EvidenceItem.objects.get(dispute=dispute)
    assert item.kind == "other" and item.original_name == "ticket.txt"
    assert not Attachment.objects.exists()
    html = client.get(f"/disputes/{dispute.pk}/").content.decode()
    assert html.count('type="file"') == 1  # one upload box
    # A file attached before unification is evidence in the packet too.
    Attachment.objects.create(content_type=ContentType.objects.get_for_model(Dispute), object_id=dispute.pk,
                              uploaded_by=specialist, file=item.file.name, original_name="old-contract.txt",
                              mime_type="text/plain", size=item.size, sha256=item.sha256)
    _, text = packet_text(packet_render(packet_snapshot(dispute_id=dispute.pk), preview=True))
    assert "ticket.txt" in text and "old-contract.txt" in text and item.sha256 in text.replace("\n", "")


def test_pdf_evidence_is_merged_into_the_packet_and_images_embedded(dispute, specialist):
    evidence_add(dispute_id=dispute.pk, actor=specialist, kind="usage_logs",
                 upload=upload("gpu-usage.pdf", usage_report_pdf(2)))
    evidence_add(dispute_id=dispute.pk, actor=specialist, kind="proof_of_delivery",
                 upload=upload("login.png", png_bytes()))
    evidence_add(dispute_id=dispute.pk, actor=specialist, kind="other",
                 upload=upload("broken.pdf", b"%PDF-1.4\nthis is not really a PDF\n"))
    without = packet_render(packet_snapshot(dispute_id=dispute.pk), preview=True)
    pages, text = packet_text(without)

    assert "GPU usage report page 1 for November" in text and "GPU usage report page 2 for November" in text
    reader = PdfReader(io.BytesIO(without))
    assert "GPU usage report page 2" in (reader.pages[-1].extract_text() or "")  # appended at the end, in order
    assert "Appendix 1" in text and "could not be merged" in text  # the broken one is listed, not fatal
    assert any("/XObject" in (page.get("/Resources") or {}) for page in reader.pages[:-2])  # the image


def test_the_cover_letter_comes_from_the_reason_codes_template_and_can_be_edited(client, dispute, specialist, lead):
    CoverLetterTemplate.objects.create(reason_code=dispute.reason_code,
                                       body="$customer used the service billed on $invoice.\n\nPlease reverse.")
    client.force_login(specialist)
    page = client.get(f"/disputes/{dispute.pk}/").content.decode()
    customer = dispute.payment.customer.name
    assert f"{customer} used the service billed on {dispute.payment.invoice.number}." in page

    client.post(f"/disputes/{dispute.pk}/cover-letter/", {"body": "Our own argument for this one.\n\nThanks."})
    _, text = packet_text(packet_render(packet_snapshot(dispute_id=dispute.pk), preview=True))
    assert "Our own argument for this one." in text and "used the service billed" not in text

    client.post(f"/disputes/{dispute.pk}/cover-letter/", {"action": "reset"})
    _, text = packet_text(packet_render(packet_snapshot(dispute_id=dispute.pk), preview=True))
    assert "used the service billed on" in text


def test_a_specialist_proposes_accepting_liability_and_a_lead_decides(client, dispute, specialist, lead):
    client.force_login(specialist)
    client.post(f"/disputes/{dispute.pk}/propose-accept/", {"reason": "Customer never used the GPUs; not worth $100"})
    proposal = AcceptanceProposal.objects.get(dispute=dispute)
    assert proposal.decision == "open"
    with pytest.raises(Conflict):
        dispute_propose_accept(dispute_id=dispute.pk, actor=specialist, reason="again")

    client.force_login(lead)
    queue = client.get("/queues/approvals/", {"type": "disputes"}).content.decode()
    assert dispute.reference in queue
    page = client.get(f"/disputes/{dispute.pk}/").content.decode()
    assert 'data-proposal="open"' in page and "Customer never used the GPUs" in page
    dispute_accept(dispute_id=dispute.pk, actor=lead, reason="Agreed")
    proposal.refresh_from_db()
    assert proposal.decision == "accepted" and proposal.decided_by == lead
    assert dispute.reference not in client.get("/queues/approvals/", {"type": "disputes"}).content.decode()


def test_a_lead_can_decline_a_proposal_and_only_leads_decide(client, dispute, specialist, lead):
    dispute_propose_accept(dispute_id=dispute.pk, actor=specialist, reason="Low value")
    client.force_login(specialist)
    assert client.post(f"/disputes/{dispute.pk}/decline-proposal/", {"reason": "x"}).status_code == 403
    client.force_login(lead)
    client.post(f"/disputes/{dispute.pk}/decline-proposal/", {"reason": "We have usage logs: fight it"})
    assert AcceptanceProposal.objects.get(dispute=dispute).decision == "declined"
    with pytest.raises(PermissionDenied):
        dispute_propose_accept(dispute_id=dispute.pk, actor=_auditor(), reason="no")


def _auditor():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user("aud-x", password="x")
    user.groups.add(Group.objects.get(name="finance_auditor"))
    return user


def test_claim_is_not_offered_on_a_colleagues_case(client, specialist, specialist2, lead):
    dispute = DisputeFactory(assignee=specialist2)
    client.force_login(specialist)
    assert 'data-action="claim"' not in client.get(f"/disputes/{dispute.pk}/").content.decode()
    client.force_login(lead)
    assert 'data-action="claim"' in client.get(f"/disputes/{dispute.pk}/").content.decode()  # a lead takes over
    unassigned = DisputeFactory()
    client.force_login(specialist)
    assert 'data-action="claim"' in client.get(f"/disputes/{unassigned.pk}/").content.decode()
