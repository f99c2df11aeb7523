"""Dispute factories: a dispute in any state (inserted the way dispute_create does: row, reference and
the first journal row in one transaction) and evidence items; plus small valid files for uploads."""

from __future__ import annotations

import struct
import zlib
from datetime import timedelta

import factory
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from factory.django import DjangoModelFactory

from backoffice.actors import WEBHOOK_STRIPE
from backoffice.cases.services import case_assign_reference, case_journal_created
from disputes.models import Dispute, DisputeStage, DisputeState, EvidenceItem, ReasonCode, Requirement
from tests.invoices.factories import PaymentFactory

STAGE_FOR_STATE = {
    DisputeState.INQUIRY: DisputeStage.INQUIRY,
    DisputeState.CLOSED: DisputeStage.INQUIRY,
}


def reason(code: str, network: str = "visa") -> ReasonCode:
    """A code from the catalogue the data migration seeded."""
    return ReasonCode.objects.get(network=network, code=code)


def complete_kinds(code: ReasonCode) -> list[str]:
    """One kind per checklist line: what a specialist adds to make the dispute complete."""
    return [Requirement.parse(text).kinds[0] for text in code.required_evidence]


class DisputeFactory(DjangoModelFactory):
    """``DisputeFactory(state="under_review")``: a Visa 13.1 dispute on a fresh 100.00 USD payment,
    due in 10 days, in any state (the stage follows the state unless given)."""

    class Meta:
        model = Dispute

    payment = factory.SubFactory(PaymentFactory)
    amount_minor = factory.LazyAttribute(lambda o: o.payment.amount_minor)
    currency = factory.LazyAttribute(lambda o: o.payment.currency)
    network = factory.LazyAttribute(lambda o: o.payment.network or "other")
    reason_code = factory.LazyFunction(lambda: reason("13.1"))
    psp = "stripe"
    psp_dispute_id = factory.Sequence(lambda n: f"dp_test_{n:08d}")
    state = DisputeState.NEEDS_RESPONSE
    stage = factory.LazyAttribute(lambda o: STAGE_FOR_STATE.get(o.state, DisputeStage.CHARGEBACK))
    due_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=10))
    internal_due_at = factory.LazyAttribute(
        lambda o: o.due_at - timedelta(hours=settings.DISPUTE_DEADLINE_BUFFER_HOURS) if o.due_at else None
    )

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        with transaction.atomic():
            dispute = model_class.objects.create(*args, **kwargs)
            case_assign_reference(case=dispute)
            case_journal_created(case=dispute, actor=WEBHOOK_STRIPE)
        return dispute


class EvidenceItemFactory(DjangoModelFactory):
    """A text-only evidence item (rows only: use ``disputes.services.evidence_add`` to test the rules)."""

    class Meta:
        model = EvidenceItem

    dispute = factory.SubFactory(DisputeFactory)
    kind = "usage_logs"
    text = factory.LazyAttribute(lambda o: f"{o.kind}: 731.25 GPU-hours, 12,400 API calls, 38 logins.")
    stage = factory.LazyAttribute(lambda o: o.dispute.stage)
    added_by = factory.LazyAttribute(lambda o: o.dispute.assignee)


def png_bytes(width: int = 4, height: int = 3) -> bytes:
    rows = b"".join(b"\x00" + b"\x1f\x5f\xbf" * width for _ in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def pdf_bytes() -> bytes:
    return (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
            b"trailer<</Root 1 0 R>>\n%%EOF\n")


def upload(name: str, content: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def usage_csv() -> bytes:
    return b"date,gpu_hours,api_calls,logins\n2026-11-01,71.5,12400,4\n2026-11-02,80.25,9900,3\n"
