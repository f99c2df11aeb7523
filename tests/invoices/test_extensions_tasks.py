"""The periodic ``invoices.check_extensions`` task: decides due extensions, idempotent, logged."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import pytest
from celery import current_app
from django_celery_beat.models import PeriodicTask
from freezegun import freeze_time

from backoffice.journal.models import JournalEntry
from invoices.models import Invoice, PaymentExtension
from invoices.services import extension_approve, extension_decide_outcome, extension_request
from invoices.tasks import check_extensions

from .factories import InvoiceFactory, PaymentFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def approved_extension(specialist, lead, *, promised: date, amount_minor=5000):
    with freeze_time(T0):
        invoice = InvoiceFactory(issued_at=T0 - timedelta(days=20), due_at=T0 + timedelta(days=1),
                                 amount_minor=amount_minor)
        extension = extension_request(actor=specialist, invoice=invoice, new_due_date=promised,
                                      reason="Waiting for the customer's quarterly budget")
        extension_approve(extension_id=extension.pk, actor=lead, reason="ok")
    return extension


def test_the_task_is_registered_and_scheduled():
    assert "invoices.check_extensions" in current_app.tasks
    assert PeriodicTask.objects.filter(task="invoices.check_extensions", enabled=True).exists()


def test_the_task_decides_due_extensions_and_logs_counts(specialist, lead, caplog):
    kept = approved_extension(specialist, lead, promised=date(2026, 5, 10))
    broken = approved_extension(specialist, lead, promised=date(2026, 5, 10))
    pending = approved_extension(specialist, lead, promised=date(2026, 5, 20))
    PaymentFactory(invoice=kept.invoice, amount_minor=5000, captured_at=datetime(2026, 5, 10, 23, 59, tzinfo=UTC))

    with freeze_time(datetime(2026, 5, 11, 0, 1, tzinfo=UTC)), caplog.at_level(logging.INFO, logger="invoices"):
        counts = check_extensions.delay().get()

    assert counts == {"checked": 2, "fulfilled": 1, "broken": 1, "pending": 0, "skipped": 0}
    states = dict(PaymentExtension.objects.values_list("pk", "state"))
    assert (states[kept.pk], states[broken.pk], states[pending.pk]) == ("fulfilled", "broken", "approved")
    assert Invoice.objects.get(pk=broken.invoice_id).status == "overdue"
    line = next(r.getMessage() for r in caplog.records if "task_end task=invoices.check_extensions" in r.getMessage())
    assert "checked=2 fulfilled=1 broken=1 pending=0 skipped=0" in line


def test_running_the_task_again_changes_nothing(specialist, lead):
    extension = approved_extension(specialist, lead, promised=date(2026, 5, 10))
    with freeze_time(datetime(2026, 5, 12, tzinfo=UTC)):
        first = check_extensions.delay().get()
        second = check_extensions.delay().get()
    assert first["broken"] == 1 and second["checked"] == 0
    transitions = JournalEntry.objects.filter(case_type="extension", case_id=extension.pk).values_list(
        "transition", flat=True)
    assert list(transitions.order_by("seq")) == ["create", "approve", "mark_broken"]


def test_one_extension_is_decided_by_id_and_a_second_decision_is_skipped(specialist, lead):
    extension = approved_extension(specialist, lead, promised=date(2026, 5, 10))
    with freeze_time(datetime(2026, 5, 8, tzinfo=UTC)):
        assert extension_decide_outcome(extension_id=extension.pk) == "pending"
        assert extension_decide_outcome(extension_id=987654) == "skipped"
    with freeze_time(datetime(2026, 5, 11, tzinfo=UTC)):
        assert extension_decide_outcome(extension_id=extension.pk) == "broken"
        assert extension_decide_outcome(extension_id=extension.pk) == "skipped"
