"""The evidence packet PDF sent to the issuer: cover letter (the dispute's own edited letter, else its
reason code's template, else a summary argument chosen by the reason's category), dispute and
payment facts, the invoice and its lines, each evidence item (text inline, images embedded, text
files quoted, anything else listed with its hash), a SHA-256 manifest of the files, and every PDF
evidence document merged in after the manifest as an appendix (pypdf). Files attached to the
dispute through the generic case upload are evidence too ("Other").

Rendered from a snapshot read without locks (never while a row lock is held) by WeasyPrint via
``backoffice.pdf.render_pdf``, which loads nothing but the packet's own files. Every piece of
user text goes through the template's autoescaping; nothing is marked safe.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import PurePosixPath
from string import Template
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from backoffice.money import format_minor
from backoffice.pdf import file_url, render_pdf
from invoices.models import Invoice, InvoiceLine, Payment

from .models import (
    CoverLetter,
    CoverLetterTemplate,
    Dispute,
    EvidenceChecklist,
    EvidenceItem,
    EvidenceKind,
    ReasonCategory,
)
from .selectors import dispute_evidence, invoice_lines

TEXT_PREVIEW_CHARS = 20_000

# Reason families that get their own argument within the consumer-dispute category.
NOT_RECEIVED_CODES = {"13.1", "4855", "C08", "RG", "product_not_received"}
CANCELLED_RECURRING_CODES = {"13.2", "C28", "AP", "subscription_canceled"}
CREDIT_CODES = {"13.6", "C02", "RN2", "513", "credit_not_processed", "C04"}
DUPLICATE_CODES = {"12.6.1", "12.6.2", "P08", "DP", "512", "duplicate", "C14", "PM"}


@dataclass(frozen=True)
class PacketFile:
    key: str  # the name render_pdf knows it by
    item: EvidenceItem
    data: bytes


@dataclass(frozen=True)
class AttachedFile:
    """A file attached to the dispute outside the evidence form, shown in the packet as "Other" evidence."""

    pk: str
    file: Any
    kind: str
    text: str
    sha256: str
    mime_type: str
    size: int
    original_name: str
    added_by: Any
    created_at: datetime
    stage: str

    @property
    def is_image(self) -> bool:
        return self.mime_type.startswith("image/")

    def get_kind_display(self) -> str:
        return str(EvidenceKind.OTHER.label)

    def get_stage_display(self) -> str:
        return "attached to the case"


@dataclass(frozen=True)
class PacketSnapshot:
    dispute: Dispute
    payment: Payment
    invoice: Invoice
    lines: list[InvoiceLine]
    evidence: list[EvidenceItem]
    files: dict[int, PacketFile]
    checklist: EvidenceChecklist
    prior_payments: int
    prior_disputed: int
    taken_at: datetime
    cover_letter: str = ""  # the dispute's edited letter
    letter_template: str = ""  # its reason code's template

    @property
    def evidence_ids(self) -> frozenset[int]:
        return frozenset(item.pk for item in self.evidence if isinstance(item, EvidenceItem))


def packet_snapshot_for_letter(*, dispute_id: int) -> PacketSnapshot:
    """The facts the cover letter needs, without reading any file (for the dispute page's letter editor)."""
    return packet_snapshot(dispute_id=dispute_id, with_files=False)


def packet_snapshot(*, dispute_id: int, with_files: bool = True) -> PacketSnapshot:
    """Everything the packet shows, read once (no lock) so rendering can happen outside any transaction."""
    dispute = Dispute.objects.select_related(
        "reason_code", "payment__invoice__customer", "payment__customer", "assignee"
    ).get(pk=dispute_id)
    payment = dispute.payment
    evidence: list[Any] = list(dispute_evidence(dispute=dispute))
    evidence += _case_attachments(dispute)
    files: dict[Any, PacketFile] = {}
    for item in evidence:
        if item.file and with_files:
            suffix = PurePosixPath(item.file.name).suffix.lower()
            with item.file.storage.open(item.file.name, "rb") as handle:
                files[item.pk] = PacketFile(key=f"evidence-{item.pk}{suffix}", item=item, data=handle.read())
    letter = CoverLetter.objects.filter(dispute_id=dispute.pk).values_list("body", flat=True).first() or ""
    template = (CoverLetterTemplate.objects.filter(reason_code_id=dispute.reason_code_id)
                .values_list("body", flat=True).first() or "")
    earlier = Payment.objects.filter(customer_id=payment.customer_id, captured_at__lt=payment.captured_at)
    return PacketSnapshot(
        dispute=dispute,
        payment=payment,
        invoice=payment.invoice,
        lines=list(invoice_lines(invoice_id=payment.invoice_id)),
        evidence=evidence,
        files=files,
        checklist=dispute.reason_code.checklist({item.kind for item in evidence}),
        prior_payments=earlier.count(),
        prior_disputed=earlier.filter(disputes__isnull=False).distinct().count(),
        taken_at=timezone.now(),
        cover_letter=letter,
        letter_template=template,
    )


def _case_attachments(dispute: Dispute) -> list[AttachedFile]:
    from django.contrib.contenttypes.models import ContentType

    from backoffice.cases.models import Attachment

    rows = Attachment.objects.filter(content_type=ContentType.objects.get_for_model(Dispute),
                                     object_id=dispute.pk).select_related("uploaded_by").order_by("created_at", "id")
    return [AttachedFile(pk=f"attachment-{row.pk}", file=row.file, kind=EvidenceKind.OTHER, text="",
                         sha256=row.sha256, mime_type=row.mime_type, size=row.size, original_name=row.original_name,
                         added_by=row.uploaded_by, created_at=row.created_at, stage="") for row in rows]


LETTER_PLACEHOLDERS = ("customer", "amount", "invoice", "captured", "reason_code", "reason_title", "merchant",
                       "prior_payments")


def letter_values(snapshot: PacketSnapshot) -> dict[str, str]:
    dispute, payment = snapshot.dispute, snapshot.payment
    return {
        "customer": payment.customer.name,
        "amount": format_minor(payment.amount_minor, payment.currency),
        "invoice": snapshot.invoice.number,
        "captured": f"{payment.captured_at:%d %B %Y}",
        "reason_code": dispute.reason_code.code,
        "reason_title": dispute.reason_code.title,
        "merchant": settings.DISPUTE_MERCHANT_NAME,
        "prior_payments": str(snapshot.prior_payments),
    }


def _paragraphs(text: str) -> list[str]:
    return [" ".join(part.split()) for part in text.replace("\r\n", "\n").split("\n\n") if part.strip()]


def letter_text(snapshot: PacketSnapshot) -> str:
    """The letter's body as editable text: the edited letter, else the template filled in, else the built-in one."""
    if snapshot.cover_letter:
        return snapshot.cover_letter
    if snapshot.letter_template:
        return Template(snapshot.letter_template).safe_substitute(letter_values(snapshot))
    return "\n\n".join(summary_argument(snapshot))


def letter_paragraphs(snapshot: PacketSnapshot) -> list[str]:
    return _paragraphs(letter_text(snapshot))


def _kind_labels(kinds: list[str]) -> str:
    labels = dict(EvidenceKind.choices)
    return ", ".join(str(labels.get(kind, kind)) for kind in kinds)


def summary_argument(snapshot: PacketSnapshot) -> list[str]:
    """The cover letter's argument, chosen by the reason's category (and family within it)."""
    dispute, payment, invoice = snapshot.dispute, snapshot.payment, snapshot.invoice
    code = dispute.reason_code
    customer = payment.customer.name
    amount = format_minor(payment.amount_minor, payment.currency)
    captured = f"{payment.captured_at:%d %B %Y}"
    paragraphs: list[str] = []
    if code.category == ReasonCategory.FRAUD:
        paragraphs.append(
            f"The cardholder authorised this payment. {customer} is a known customer of ours: the payment of "
            f"{amount} on {captured} settled invoice {invoice.number} for services on the customer's own "
            "account, which the customer used.")
        if snapshot.prior_payments:
            paragraphs.append(
                f"The same customer made {snapshot.prior_payments} earlier payment(s) to us, "
                f"{snapshot.prior_payments - snapshot.prior_disputed} of them never disputed; the enclosed "
                "device and IP history links this payment to those undisputed ones (Visa Compelling Evidence "
                "3.0).")
        paragraphs.append("The enclosed card verification (AVS/CVV) and 3-D Secure results show the payment was "
                          "authenticated by the cardholder.")
    elif code.category == ReasonCategory.AUTHORIZATION:
        paragraphs.append(
            f"A valid authorisation was obtained for this payment of {amount} on {captured}; the enclosed "
            "authorisation record shows the approval, its date and its amount, which match the settled "
            "transaction.")
    elif code.category == ReasonCategory.PROCESSING_ERROR:
        if code.code in DUPLICATE_CODES:
            paragraphs.append(
                "The charge is not a duplicate: each payment by this customer settles a distinct invoice, as the "
                f"enclosed documentation shows; this one settled invoice {invoice.number}.")
        paragraphs.append(
            f"The transaction was processed correctly: it was presented once, for {amount}, the amount and "
            f"currency of invoice {invoice.number}, and within the presentment time limit.")
    else:
        if code.code in NOT_RECEIVED_CODES:
            paragraphs.append(
                f"The services were delivered. For a cloud service delivery is the customer's use of it: the "
                f"enclosed usage logs show {customer} using the services billed on invoice {invoice.number} "
                "during the billing period and after the charge.")
        elif code.code in CANCELLED_RECURRING_CODES:
            paragraphs.append(
                f"The subscription was active when it was charged. {customer} accepted the enclosed terms of "
                "service, which explain how to cancel; no cancellation was received before the billing date, "
                "and the usage logs show the service was used after the date the cardholder gives.")
        elif code.code in CREDIT_CODES:
            paragraphs.append(
                "No credit is outstanding: the enclosed refund policy was accepted by the customer, and the "
                "refund record and correspondence show what was credited and why nothing further is due.")
        else:
            paragraphs.append(
                f"The services were provided as described and agreed. {customer} accepted our terms of service; "
                f"invoice {invoice.number} lists what was billed, and the usage logs and correspondence show "
                "the services were used and no complaint was raised before the dispute.")
    present = sorted({item.kind for item in snapshot.evidence})
    if present:
        paragraphs.append(f"Enclosed evidence: {_kind_labels(present)}.")
    paragraphs.append("We therefore ask that the chargeback be reversed in our favour.")
    return paragraphs


def _quantity(value: Decimal) -> str:
    return f"{value.normalize():f}"


def packet_context(snapshot: PacketSnapshot, *, preview: bool) -> tuple[dict[str, Any], dict[str, bytes]]:
    dispute, payment, invoice = snapshot.dispute, snapshot.payment, snapshot.invoice
    files: dict[str, bytes] = {}
    items = []
    labels = dict(EvidenceKind.choices)
    for number, item in enumerate(snapshot.evidence, start=1):
        packet_file = snapshot.files.get(item.pk)
        image_src = file_text = ""
        if packet_file is not None:
            if item.is_image:
                files[packet_file.key] = packet_file.data
                image_src = file_url(packet_file.key)
            elif item.mime_type.startswith(("text/", "application/json", "message/")):
                file_text = packet_file.data[:TEXT_PREVIEW_CHARS * 4].decode("utf-8", errors="replace")
                file_text = file_text[:TEXT_PREVIEW_CHARS]
        items.append({
            "number": number,
            "item": item,
            "label": labels.get(item.kind, item.kind),
            "image_src": image_src,
            "file_text": file_text,
            "file_truncated": packet_file is not None and len(packet_file.data) > TEXT_PREVIEW_CHARS,
            "is_pdf": item.mime_type == "application/pdf",
        })
    lines = [{
        "line": line,
        "quantity": _quantity(line.quantity),
        "unit_price": format_minor(line.unit_price_minor, invoice.currency),
        "amount": format_minor(line.amount_minor, invoice.currency),
    } for line in snapshot.lines]
    context = {
        "preview": preview,
        "merchant": settings.DISPUTE_MERCHANT_NAME,
        "dispute": dispute,
        "reason": dispute.reason_code,
        "payment": payment,
        "invoice": invoice,
        "customer": payment.customer,
        "lines": lines,
        "invoice_total": format_minor(invoice.amount_minor, invoice.currency),
        "dispute_amount": format_minor(dispute.amount_minor, dispute.currency),
        "payment_amount": format_minor(payment.amount_minor, payment.currency),
        "argument": letter_paragraphs(snapshot),
        "items": items,
        "manifest": [entry for entry in items if entry["item"].file],
        "checklist": snapshot.checklist,
        "prior_payments": snapshot.prior_payments,
        "prior_disputed": snapshot.prior_disputed,
        "generated_at": snapshot.taken_at,
    }
    return context, files


def packet_html(snapshot: PacketSnapshot, *, preview: bool = False) -> tuple[str, dict[str, bytes]]:
    context, files = packet_context(snapshot, preview=preview)
    return render_to_string("disputes/packet.html", context), files


@dataclass(frozen=True)
class Appendix:
    number: int
    item: Any
    pages: int
    reader: Any = None  # a pypdf PdfReader, or None when the document cannot be merged
    problem: str = ""


def packet_appendices(snapshot: PacketSnapshot) -> list[Appendix]:
    """Every PDF evidence document, read with pypdf to be merged after the manifest (or why it cannot be)."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    appendices = []
    for item in snapshot.evidence:
        packet_file = snapshot.files.get(item.pk)
        if packet_file is None or item.mime_type != "application/pdf":
            continue
        number = len(appendices) + 1
        try:
            reader = PdfReader(io.BytesIO(packet_file.data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise PyPdfError("the document is encrypted")
            pages = len(reader.pages)
        except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
            appendices.append(Appendix(number=number, item=item, pages=0,
                                       problem=f"could not be merged ({str(exc)[:120] or type(exc).__name__})"))
            continue
        appendices.append(Appendix(number=number, item=item, pages=pages, reader=reader))
    return appendices


def packet_render(snapshot: PacketSnapshot, *, preview: bool = False) -> bytes:
    """The packet: the rendered letter, facts, evidence and manifest, then each PDF document's own pages."""
    from pypdf import PdfWriter

    appendices = packet_appendices(snapshot)
    context, files = packet_context(snapshot, preview=preview)
    by_item = {appendix.item.pk: appendix for appendix in appendices}
    for entry in context["items"]:
        entry["appendix"] = by_item.get(entry["item"].pk)
    context["appendices"] = appendices
    html = render_to_string("disputes/packet.html", context)
    body = render_pdf(html, files=files)
    mergeable = [appendix for appendix in appendices if appendix.reader is not None]
    if not mergeable:
        return body
    writer = PdfWriter()
    writer.append(io.BytesIO(body))
    for appendix in mergeable:
        writer.append(appendix.reader)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def dispute_packet_pdf(*, dispute: Dispute, preview: bool = False) -> tuple[bytes, bool]:
    """The stored packet once submitted; otherwise (or when asked) a fresh preview. Returns (pdf, is_preview)."""
    if not preview and dispute.has_stored_packet:
        with dispute.packet.storage.open(dispute.packet.name, "rb") as handle:
            return handle.read(), False
    return packet_render(packet_snapshot(dispute_id=dispute.pk), preview=True), True
