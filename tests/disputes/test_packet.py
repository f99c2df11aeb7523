"""The evidence packet PDF: what the issuer reads, and that rendering fetches nothing from the network."""

from __future__ import annotations

import hashlib
import io
import re

import pytest
from pypdf import PdfReader

from backoffice.pdf import render_pdf
from disputes.packet import dispute_packet_pdf, packet_html, packet_render, packet_snapshot
from disputes.services import dispute_submit_evidence, evidence_add
from tests.fakepsp import Answer, FakeService

from .conftest import add_complete_evidence
from .factories import DisputeFactory, pdf_bytes, png_bytes, reason, upload, usage_csv


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture
def served():
    """A local HTTP server that counts the requests it gets (it must get none)."""
    hits: list[str] = []

    class Counting(FakeService):
        def serve(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer:
            hits.append(path)
            return Answer(200, png_bytes(), "image/png")

    with Counting() as server:
        yield server.url, hits


@pytest.mark.django_db
def test_the_packet_has_the_cover_letter_facts_invoice_each_item_and_a_manifest(specialist):
    dispute = DisputeFactory(assignee=specialist)
    logs = evidence_add(dispute_id=dispute.pk, actor=specialist, kind="usage_logs",
                        text="731.25 GPU-hours after the charge", upload=upload("usage.csv", usage_csv()))
    shot = evidence_add(dispute_id=dispute.pk, actor=specialist, kind="proof_of_delivery",
                        text="Console screenshot of the running cluster", upload=upload("console.png", png_bytes()))
    mail = evidence_add(dispute_id=dispute.pk, actor=specialist, kind="customer_communication",
                        text="Customer thanked us for the service on 3 Nov.", upload=upload("mail.pdf", pdf_bytes()))

    pdf = packet_render(packet_snapshot(dispute_id=dispute.pk))

    text = pdf_text(pdf)
    for expected in (dispute.reference, "13.1", "Merchandise/services not received", dispute.psp_dispute_id,
                     "Representment", "the issuing bank of the Visa card ending 4242", "$100.00",
                     dispute.payment.invoice.number, "GPU hours (A100)", "usage_logs", "proof_of_delivery",
                     "customer_communication", "2026-11-01,71.5,12400,4", "mail.pdf", "Manifest",
                     "For a cloud service delivery is the customer's use of it"):
        assert expected in text, expected
    for item in (logs, shot, mail):
        assert item.sha256 in squeezed(text)
    assert "PREVIEW" not in text
    images = {image.name for page in PdfReader(io.BytesIO(pdf)).pages for image in page.images}
    assert len(images) == 1  # the PNG is embedded once; the PDF and the CSV are not images


@pytest.mark.django_db
@pytest.mark.parametrize("code, network, phrase", [
    ("10.4", "visa", "The cardholder authorised this payment"),
    ("11.3", "visa", "A valid authorisation was obtained"),
    ("12.6.1", "visa", "The charge is not a duplicate"),
    ("13.2", "visa", "The subscription was active when it was charged"),
    ("4853", "mastercard", "The services were provided as described"),
])
def test_the_summary_argument_follows_the_reason_category(code, network, phrase):
    dispute = DisputeFactory(reason_code=reason(code, network), network=network, payment__network=network)
    html, _ = packet_html(packet_snapshot(dispute_id=dispute.pk))
    assert phrase in html


@pytest.mark.django_db
def test_user_text_is_escaped_and_rendering_fetches_no_url(specialist, served):
    base, hits = served
    dispute = DisputeFactory(assignee=specialist)
    hostile = f'<img src="{base}/tracker.png"> <link rel="stylesheet" href="{base}/x.css"> & more'
    evidence_add(dispute_id=dispute.pk, actor=specialist, kind="customer_communication", text=hostile)

    snapshot = packet_snapshot(dispute_id=dispute.pk)
    html, files = packet_html(snapshot)
    pdf = packet_render(snapshot)

    assert "&lt;img src=&quot;" in html and f'<img src="{base}' not in html
    assert f'<img src="{base}/tracker.png">' in pdf_text(pdf)  # shown as text, never loaded
    assert files == {}
    # Even markup that asks for remote or local files outright loads nothing.
    render_pdf(f'<img src="{base}/direct.png"><link rel="stylesheet" href="{base}/s.css">'
               '<img src="file:///etc/hostname"><p>x</p>')
    assert hits == []


@pytest.mark.django_db
def test_before_submission_the_packet_is_a_fresh_preview_and_after_it_the_stored_one(dispute, specialist):
    add_complete_evidence(dispute, specialist)

    preview, is_preview = dispute_packet_pdf(dispute=dispute)
    assert is_preview and "PREVIEW" in pdf_text(preview)

    submitted = dispute_submit_evidence(dispute_id=dispute.pk, actor=specialist)
    stored, is_preview = dispute_packet_pdf(dispute=submitted)
    assert not is_preview
    assert hashlib.sha256(stored).hexdigest() == submitted.packet_sha256
    assert "PREVIEW" not in pdf_text(stored)
    again, is_preview = dispute_packet_pdf(dispute=submitted, preview=True)
    assert is_preview and "PREVIEW" in pdf_text(again)
