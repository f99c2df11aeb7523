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


def deliver_due(at):
    from backoffice.notifications.services import outbox_deliver

    with freeze_time(at):
        return outbox_deliver()


@pytest.mark.django_db
def test_a_resent_email_carries_its_own_offsets_text(specialist, flaky_mail, django_capture_on_commit_callbacks):
    with freeze_time(INTERNAL_DUE - timedelta(days=10)):
        dispute = DisputeFactory(due_at=DUE, internal_due_at=INTERNAL_DUE, assignee=specialist)
    flaky_mail.down = True  # the mail server is down when the 7-day reminder is decided
    with freeze_time(INTERNAL_DUE - timedelta(days=6)), django_capture_on_commit_callbacks(execute=True):
        send_deadline_reminders.apply()
    assert mail.outbox == [] and len(flaky_mail.attempts) == 1
    flaky_mail.down = False
    with freeze_time(INTERNAL_DUE - timedelta(days=2)), django_capture_on_commit_callbacks(execute=True):
        send_deadline_reminders.apply()  # the 3-day reminder goes out at once
    assert [m.subject for m in mail.outbox] == [f"{dispute.reference}: evidence due in 3 day(s)"]
    result = deliver_due(INTERNAL_DUE - timedelta(days=2))  # the periodic retry sends the 7-day one, as written
    assert result.sent == 1
    assert [m.subject for m in mail.outbox] == [f"{dispute.reference}: evidence due in 3 day(s)",
                                                f"{dispute.reference}: evidence due in 7 day(s)"]
    assert deliver_due(INTERNAL_DUE).sent == 0  # sent once, never again
    assert CaseAlert.objects.filter(case_id=dispute.pk, emailed_at__isnull=True).count() == 0


@pytest.mark.django_db
def test_one_refused_email_does_not_stop_the_others_and_is_retried_once(lead, lead2, specialist, flaky_mail,
                                                                         django_capture_on_commit_callbacks):
    disputes = []
    with freeze_time(INTERNAL_DUE - timedelta(days=10)):
        for assignee in (specialist, None, specialist):
            disputes.append(DisputeFactory(due_at=DUE, internal_due_at=INTERNAL_DUE, assignee=assignee))
    flaky_mail.refuse = {specialist.email}
    with freeze_time(INTERNAL_DUE - timedelta(days=6)), django_capture_on_commit_callbacks(execute=True):
        send_deadline_reminders.apply()
    assert len(flaky_mail.attempts) == 3  # every e-mail was tried
    assert [m.to for m in mail.outbox] == [[lead.email, lead2.email]]
    from backoffice.notifications.models import OutboxEmail

    failed = OutboxEmail.objects.filter(sent_at__isnull=True)
    assert failed.count() == 2 and all("SMTPRecipientsRefused" in e.last_error for e in failed)
    flaky_mail.refuse = set()
    assert deliver_due(INTERNAL_DUE - timedelta(days=6)).sent == 0  # backing off
    assert deliver_due(INTERNAL_DUE - timedelta(days=5)).sent == 2
    assert deliver_due(INTERNAL_DUE - timedelta(days=4)).sent == 0
    assert len(mail.outbox) == 3


@pytest.mark.django_db
def test_a_crash_in_an_escalation_batch_loses_nothing(lead, monkeypatch, django_capture_on_commit_callbacks):
    """Claim, stamp, journal and notifications commit together: a crash midway leaves none of them."""
    import disputes.services as services

    with freeze_time(INTERNAL_DUE - timedelta(days=10)):
        overdue = [DisputeFactory(due_at=DUE, internal_due_at=INTERNAL_DUE) for _ in range(3)]
    real_journal_record = services.journal_record
    calls = []

    def journal_then_crash(**kwargs):
        calls.append(kwargs["case_id"])
        if len(calls) == 2:
            raise OSError("worker lost its database connection")
        return real_journal_record(**kwargs)

    monkeypatch.setattr(services, "journal_record", journal_then_crash)
    with freeze_time(INTERNAL_DUE + timedelta(hours=1)), pytest.raises(OSError):
        escalate_overdue.apply(throw=True)
    assert CaseAlert.objects.count() == 0 and Notification.objects.count() == 0
    assert not type(overdue[0]).objects.filter(escalated_at__isnull=False).exists()

    monkeypatch.setattr(services, "journal_record", real_journal_record)
    with freeze_time(INTERNAL_DUE + timedelta(hours=2)), django_capture_on_commit_callbacks(execute=True):
        escalate_overdue.apply()
        escalate_overdue.apply()
    assert CaseAlert.objects.filter(kind="escalation").count() == 3
    assert JournalEntry.objects.filter(transition="escalate").count() == 3
    assert Notification.objects.filter(kind="escalation", recipient=lead).count() == 3
    assert len(mail.outbox) == 3
    assert type(overdue[0]).objects.filter(escalated_at__isnull=True).count() == 0


@pytest.mark.django_db
def test_a_reopened_dispute_is_escalated_again_for_its_new_deadline(lead):
    from disputes.services import dispute_mark_lost, dispute_reopen

    with freeze_time(INTERNAL_DUE - timedelta(days=10)):
        dispute = DisputeFactory(due_at=DUE, internal_due_at=INTERNAL_DUE)
    with freeze_time(INTERNAL_DUE + timedelta(hours=1)):
        escalate_overdue.apply()
    type(dispute).objects.filter(pk=dispute.pk).update(state="under_review")
    new_due = DUE + timedelta(days=30)
    with freeze_time(DUE + timedelta(days=2)):
        dispute_mark_lost(dispute_id=dispute.pk, actor=lead)
        dispute_reopen(dispute_id=dispute.pk, actor=lead, reason="pre-arbitration", due_at=new_due)
        escalate_overdue.apply()  # not overdue again yet
    assert CaseAlert.objects.filter(kind="escalation").count() == 1
    with freeze_time(new_due - timedelta(hours=47)):
        escalate_overdue.apply()
        escalate_overdue.apply()
    assert CaseAlert.objects.filter(kind="escalation").count() == 2
    assert JournalEntry.objects.filter(case_id=dispute.pk, transition="escalate").count() == 2
