"""A small world for the hunting tests: one case of each type, a customer, invoices and payments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from backoffice.cases.models import Attachment, Comment
from backoffice.journal.models import JournalEntry
from backoffice.notifications.models import Notification
from disputes.models import Dispute, EvidenceItem
from invoices.models import Invoice, PaymentExtension
from invoices.services import extension_request
from refunds.models import Refund
from tests.disputes.factories import DisputeFactory
from tests.invoices.factories import InvoiceFactory, PaymentFactory
from tests.refunds.factories import request_refund

# What a refused request must not have written (denied-attempt records are allowed: refusals are recorded).
WRITTEN = (Dispute, Refund, PaymentExtension, Comment, Attachment, EvidenceItem, JournalEntry, Invoice)


def row_counts() -> dict[str, int]:
    counts = {model.__name__: model.objects.count() for model in WRITTEN}
    counts["unread notifications"] = Notification.objects.filter(read_at__isnull=True).count()
    counts["assigned cases"] = sum(m.objects.filter(assignee__isnull=False).count()
                                   for m in (Dispute, Refund, PaymentExtension))
    counts["content types"] = ContentType.objects.count()
    return counts


@dataclass
class World:
    dispute: Dispute
    inquiry: Dispute
    lost: Dispute
    refund: Refund
    extension: PaymentExtension
    invoice: Invoice
    payment: object

    def case(self, type_key: str):
        return {"disputes": self.dispute, "refunds": self.refund, "extensions": self.extension}[type_key]


@pytest.fixture
def world(specialist, lead):
    payment = PaymentFactory()
    refund = request_refund(requester=specialist, payment=payment)
    invoice = InvoiceFactory()
    extension = extension_request(actor=specialist, invoice=invoice, reason="Customer waits for budget approval",
                                  new_due_date=(invoice.due_at + timedelta(days=10)).date())
    return World(
        dispute=DisputeFactory(assignee=specialist),
        inquiry=DisputeFactory(assignee=specialist, state="inquiry"),
        lost=DisputeFactory(assignee=specialist, state="lost", due_at=timezone.now() - timedelta(days=1)),
        refund=refund, extension=extension, invoice=InvoiceFactory(), payment=PaymentFactory(),
    )
