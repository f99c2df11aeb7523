"""Deadline work with a frozen clock: reminders at 7, 3, 1 days, one escalation, then expiry."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from freezegun import freeze_time

from backoffice.journal.models import JournalEntry
from backoffice.notifications.models import CaseAlert, Notification
from disputes.tasks import escalate_overdue, expire_past_due, send_deadline_reminders
from tests.disputes.factories import DisputeFactory

DUE = datetime(2026, 12, 20, 12, 0, tzinfo=UTC)
INTERNAL_DUE = DUE - timedelta(hours=48)


def run_all():
    send_deadline_reminders.apply()
    escalate_overdue.apply()
    expire_past_due.apply()


@pytest.mark.django_db
def test_walk_from_eight_days_before_to_past_the_network_deadline(lead, lead2, specialist,
                                                                  django_capture_on_commit_callbacks):
    with freeze_time(INTERNAL_DUE - timedelta(days=9)):
        dispute = DisputeFactory(due_at=DUE, internal_due_at=INTERNAL_DUE)
    moment = INTERNAL_DUE - timedelta(days=8)
    while moment <= DUE + timedelta(hours=6):
        with freeze_time(moment), django_capture_on_commit_callbacks(execute=True):
            run_all()
            run_all()  # a task run twice sends nothing twice
        moment += timedelta(hours=6)

    reminders = CaseAlert.objects.filter(case_id=dispute.pk, kind="reminder").order_by("-offset_days")
    assert [r.offset_days for r in reminders] == [7, 3, 1]
    assert CaseAlert.objects.filter(case_id=dispute.pk, kind="escalation").count() == 1
    # unassigned: every team lead gets each reminder and the escalation, in-app and by email
    assert Notification.objects.filter(case_id=dispute.pk, kind="reminder").count() == 3 * 2
    assert Notification.objects.filter(case_id=dispute.pk, kind="escalation").count() == 2
    assert len(mail.outbox) == 4
    rows = list(JournalEntry.objects.filter(case_type="dispute", case_id=dispute.pk).order_by("seq"))
    assert [r.transition for r in rows] == ["create", "escalate", "expire"]
    assert rows[-1].actor_label == "system:celery" and rows[-1].target_state == "expired"
    dispute.refresh_from_db()
    assert dispute.state == "expired" and dispute.escalated_at is not None


@pytest.mark.django_db
def test_assigned_dispute_reminds_only_the_assignee_and_a_moved_date_starts_a_new_series(specialist, lead):
    with freeze_time(INTERNAL_DUE - timedelta(days=10)):
        dispute = DisputeFactory(due_at=DUE, internal_due_at=INTERNAL_DUE, assignee=specialist)
    with freeze_time(INTERNAL_DUE - timedelta(days=6)):
        send_deadline_reminders.apply()
        send_deadline_reminders.apply()
    assert list(Notification.objects.filter(kind="reminder").values_list("recipient__username", flat=True)) == [
        "spec1"]
    later = INTERNAL_DUE + timedelta(days=20)
    type(dispute).objects.filter(pk=dispute.pk).update(internal_due_at=later, due_at=later + timedelta(hours=48))
    with freeze_time(later - timedelta(days=6)):
        send_deadline_reminders.apply()
    assert CaseAlert.objects.filter(case_id=dispute.pk, kind="reminder", offset_days=7).count() == 2
