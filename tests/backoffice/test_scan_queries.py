"""A periodic scan with nothing to do costs the same few queries for 5 candidates and for 50, and none
of them is a COUNT or a query per row (the speed of the scans is measured in bench/, not here)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from freezegun import freeze_time

from backoffice.notifications.models import OutboxEmail
from backoffice.notifications.services import outbox_deliver
from disputes.tasks import escalate_overdue_now, expire_past_due_now, send_deadline_reminders_now
from invoices.services import extension_approve, extension_check_due, extension_request
from refunds.tasks import sweep_processing_now
from tests.disputes.factories import DisputeFactory
from tests.invoices.factories import InvoiceFactory, PaymentFactory
from tests.refunds.factories import RefundFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def disputes_already_reminded(n, lead):
    payment = PaymentFactory()
    for i in range(n):
        DisputeFactory(payment=payment, internal_due_at=NOW + timedelta(days=2, hours=i % 20),
                       due_at=NOW + timedelta(days=5))
    with freeze_time(NOW):
        assert send_deadline_reminders_now(now=NOW).acted == n
    return lambda: send_deadline_reminders_now(now=NOW + timedelta(minutes=5))


def disputes_already_escalated(n, lead):
    payment = PaymentFactory()
    for i in range(n):
        DisputeFactory(payment=payment, internal_due_at=NOW - timedelta(hours=1 + i % 20),
                       due_at=NOW + timedelta(days=1))
    with freeze_time(NOW):
        assert escalate_overdue_now(now=NOW).acted == n
    return lambda: escalate_overdue_now(now=NOW + timedelta(minutes=5))


def disputes_past_due_in_other_states(n, lead):
    payment = PaymentFactory()
    for i in range(n):
        DisputeFactory(payment=payment, state=("under_review", "won", "accepted")[i % 3],
                       due_at=NOW - timedelta(days=1 + i % 9), internal_due_at=NOW - timedelta(days=3 + i % 9))
        DisputeFactory(payment=payment, due_at=NOW + timedelta(days=1 + i % 9),
                       internal_due_at=NOW + timedelta(hours=1 + i % 9))
    return lambda: expire_past_due_now(now=NOW)


def refunds_approved_moments_ago(n, lead):
    payment = PaymentFactory(amount_minor=10**9)
    for _ in range(n):
        RefundFactory(payment=payment, state="approved")
        RefundFactory(payment=payment, state="processing", last_psp_attempt_at=timezone.now())
    return lambda: sweep_processing_now()


def extensions_not_due_yet(n, lead):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    specialist, _ = get_user_model().objects.get_or_create(username="ext-spec")
    specialist.groups.add(Group.objects.get(name="billing_specialist"))
    with freeze_time(NOW):
        for _ in range(n):
            invoice = InvoiceFactory(issued_at=NOW - timedelta(days=20), due_at=NOW + timedelta(days=1))
            extension = extension_request(actor=specialist, invoice=invoice, new_due_date=date(2026, 6, 10),
                                          reason="Budget approval next week")
            extension_approve(extension_id=extension.pk, actor=lead, reason="ok")
    return lambda: extension_check_due(now=NOW + timedelta(days=1))


def emails_sent_or_backing_off(n, lead):
    OutboxEmail.objects.bulk_create(
        [OutboxEmail(to=["a@example.test"], subject="s", body="b", next_attempt_at=NOW, sent_at=NOW)
         for _ in range(n)]
        + [OutboxEmail(to=["a@example.test"], subject="s", body="b", next_attempt_at=NOW + timedelta(hours=1),
                       attempts=3, last_error="SMTPServerDisconnected") for _ in range(n)])
    return lambda: outbox_deliver(now=NOW)


SCANS = [disputes_already_reminded, disputes_already_escalated, disputes_past_due_in_other_states,
         refunds_approved_moments_ago, extensions_not_due_yet, emails_sent_or_backing_off]


def queries_of_a_noop_run(setup, n, lead):
    run = setup(n, lead)
    with CaptureQueriesContext(connection) as captured:
        result = run()
    acted = getattr(result, "acted", None)
    acted = acted if acted is not None else getattr(result, "sent", None)
    if isinstance(result, dict):
        acted = result["checked"]
    assert acted == 0
    return [q["sql"] for q in captured.captured_queries]


@pytest.mark.parametrize("setup", SCANS, ids=lambda f: f.__name__)
def test_a_noop_scan_costs_the_same_few_queries_for_5_and_for_50_candidates(setup, lead):
    small = queries_of_a_noop_run(setup, 5, lead)
    big = queries_of_a_noop_run(setup, 50, lead)
    assert len(small) == len(big) <= 4, big
    assert not [q for q in small + big if "COUNT(" in q.upper()]
