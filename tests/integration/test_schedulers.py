"""Two schedulers by mistake send nothing twice: every periodic task is idempotent by its claim rows."""

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connections
from django.utils import timezone

from backoffice.journal.models import JournalEntry
from backoffice.notifications.models import CaseAlert, Notification, OutboxEmail
from disputes.models import Dispute
from disputes.tasks import escalate_overdue_now, expire_past_due_now, send_deadline_reminders_now
from tests.disputes.factories import DisputeFactory
from tests.invoices.factories import PaymentFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def deadline_work(reminders=20, overdue=10, past_due=10):
    now = timezone.now()
    payment = PaymentFactory(amount_minor=10**8)
    made = {"reminders": [], "overdue": [], "past_due": []}
    for i in range(reminders):
        due = now + timedelta(days=1 + i % 6, hours=3)
        made["reminders"].append(DisputeFactory(payment=payment, internal_due_at=due, due_at=due + timedelta(days=2)))
    for i in range(overdue):
        made["overdue"].append(DisputeFactory(payment=payment, internal_due_at=now - timedelta(hours=1 + i),
                                              due_at=now + timedelta(hours=40)))
    for i in range(past_due):
        made["past_due"].append(DisputeFactory(payment=payment, internal_due_at=now - timedelta(days=3),
                                               due_at=now - timedelta(hours=1 + i)))
    return made


def assert_everything_happened_once(made, leads):
    reminders = CaseAlert.objects.filter(kind="reminder")
    assert reminders.count() == len(made["reminders"])
    assert set(reminders.values_list("case_id", flat=True)) == {d.pk for d in made["reminders"]}
    # Past-due disputes are overdue too: escalated if a scan reached them before their expiry did.
    escalations = CaseAlert.objects.filter(kind="escalation")
    escalated = list(escalations.values_list("case_id", flat=True))
    assert len(escalated) == len(set(escalated))
    assert {d.pk for d in made["overdue"]} <= set(escalated) <= {d.pk for d in made["overdue"] + made["past_due"]}
    assert sorted(JournalEntry.objects.filter(transition="escalate").values_list("case_id", flat=True)) == sorted(
        escalated)
    alerts = len(made["reminders"]) + len(escalated)
    assert Notification.objects.count() == alerts * len(leads)
    assert OutboxEmail.objects.count() == alerts
    expired = JournalEntry.objects.filter(transition="expire")
    assert sorted(expired.values_list("case_id", flat=True)) == sorted(d.pk for d in made["past_due"])
    assert set(expired.values_list("actor_label", flat=True)) == {"system:celery"}
    assert Dispute.objects.filter(pk__in=[d.pk for d in made["past_due"]], state="expired").count() == len(
        made["past_due"])


def test_two_threads_running_every_scan_at_once_do_each_thing_once(lead, lead2):
    made = deadline_work()
    barrier = threading.Barrier(2)
    errors = []

    def scheduler():
        try:
            barrier.wait(timeout=20)
            for _ in range(2):
                send_deadline_reminders_now(limit=7)
                escalate_overdue_now(limit=3)
                expire_past_due_now(limit=4)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert_everything_happened_once(made, [lead, lead2])
    assert len(mail.outbox) == OutboxEmail.objects.filter(sent_at__isnull=False).count() == OutboxEmail.objects.count()
    assert len({(m.subject, tuple(m.to)) for m in mail.outbox}) == len(mail.outbox)
