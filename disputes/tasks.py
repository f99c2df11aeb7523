"""Deadline work on disputes: reminders, overdue escalation, expiry. Ids in, state in the database,
each alert claimed once under a unique constraint (backoffice.notifications.CaseAlert)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from backoffice.actors import CELERY
from backoffice.errors import DomainError
from backoffice.notifications.deadlines import reminder_window
from backoffice.notifications.models import CaseAlert
from backoffice.notifications.services import alert_claim_and_notify, team_leads

from .models import Dispute, DisputeState
from .services import dispute_expire, dispute_mark_escalated

logger = logging.getLogger("backoffice.tasks")

REMINDER_STATES = (DisputeState.INQUIRY, DisputeState.NEEDS_RESPONSE)


def send_deadline_reminders_now(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    offsets = settings.DISPUTE_REMINDER_OFFSETS_DAYS
    horizon = now + timedelta(days=max(offsets, default=0))
    candidates = (Dispute.objects.filter(state__in=REMINDER_STATES, internal_due_at__gt=now,
                                         internal_due_at__lte=horizon)
                  .select_related("assignee").only("id", "reference", "internal_due_at", "assignee", "state"))
    sent = 0
    leads = None
    for dispute in candidates.iterator(chunk_size=1000):
        offset = reminder_window(due_at=dispute.internal_due_at, now=now, offsets_days=offsets)
        if offset is None:
            continue
        if CaseAlert.objects.filter(case_type="dispute", case_id=dispute.pk, due_at=dispute.internal_due_at,
                                    kind=CaseAlert.Kind.REMINDER, offset_days=offset).exists():
            continue
        if dispute.assignee_id:
            recipients = [dispute.assignee]
        else:
            leads = team_leads() if leads is None else leads
            recipients = leads
        alert = alert_claim_and_notify(
            case_type="dispute", case_id=dispute.pk, case_reference=dispute.reference or "",
            kind=CaseAlert.Kind.REMINDER, due_at=dispute.internal_due_at, offset_days=offset,
            recipients=recipients,
            title=f"{dispute.reference}: evidence due in {offset} day(s)",
            body=f"Internal due date {dispute.internal_due_at:%Y-%m-%d %H:%M} UTC.",
            url=reverse("disputes:detail", args=[dispute.pk]),
        )
        sent += alert is not None
    return sent


def escalate_overdue_now(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    overdue = Dispute.objects.filter(state=DisputeState.NEEDS_RESPONSE, internal_due_at__lt=now,
                                     escalated_at__isnull=True).only("id", "reference", "internal_due_at")
    count = 0
    for dispute in overdue.iterator(chunk_size=1000):
        alert = alert_claim_and_notify(
            case_type="dispute", case_id=dispute.pk, case_reference=dispute.reference or "",
            kind=CaseAlert.Kind.ESCALATION, due_at=dispute.internal_due_at, offset_days=0,
            recipients=team_leads(),
            title=f"{dispute.reference}: past its internal due date",
            body=f"Still needs a response; internal due was {dispute.internal_due_at:%Y-%m-%d %H:%M} UTC.",
            url=reverse("disputes:detail", args=[dispute.pk]),
        )
        if alert is not None:
            dispute_mark_escalated(dispute_id=dispute.pk, actor=CELERY, now=now)
            count += 1
    return count


def expire_past_due_now(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    count = 0
    for pk in Dispute.objects.filter(state=DisputeState.NEEDS_RESPONSE, due_at__lt=now).values_list("pk", flat=True):
        try:
            dispute_expire(dispute_id=pk, actor=CELERY, reason="network deadline passed")
            count += 1
        except DomainError as err:
            logger.info("expire_skipped dispute_id=%s code=%s", pk, err.code)
    return count


@shared_task(name="disputes.send_deadline_reminders", acks_late=True)
def send_deadline_reminders() -> int:
    logger.info("task_start task=disputes.send_deadline_reminders")
    count = send_deadline_reminders_now()
    logger.info("task_end task=disputes.send_deadline_reminders sent=%s", count)
    return count


@shared_task(name="disputes.escalate_overdue", acks_late=True)
def escalate_overdue() -> int:
    logger.info("task_start task=disputes.escalate_overdue")
    count = escalate_overdue_now()
    logger.info("task_end task=disputes.escalate_overdue escalated=%s", count)
    return count


@shared_task(name="disputes.expire_past_due", acks_late=True)
def expire_past_due() -> int:
    logger.info("task_start task=disputes.expire_past_due")
    count = expire_past_due_now()
    logger.info("task_end task=disputes.expire_past_due expired=%s", count)
    return count


# ---------------------------------------------------------------- evidence to the PSP

PSP_EVIDENCE_MAX_RETRIES = 8


@shared_task(bind=True, name="disputes.submit_evidence_to_psp", acks_late=True, max_retries=PSP_EVIDENCE_MAX_RETRIES)
def submit_evidence_to_psp(self, dispute_id: int) -> str:
    """Send a submitted dispute's evidence to its PSP once (``disputes.psp_evidence``); transient PSP
    errors are retried with exponential backoff, then recorded for a person."""
    from backoffice.gateway import GatewayTransientError

    from .psp_evidence import dispute_psp_submission_give_up, dispute_psp_submit

    try:
        return dispute_psp_submit(dispute_id=dispute_id) or "nothing_to_do"
    except GatewayTransientError as exc:
        if self.request.retries >= PSP_EVIDENCE_MAX_RETRIES:
            dispute_psp_submission_give_up(dispute_id=dispute_id, error=str(exc))
            return "failed"
        raise self.retry(exc=exc, countdown=min(600, 5 * 2 ** self.request.retries)) from exc


def enqueue_psp_evidence(dispute_id: int) -> None:
    """Called on commit. With a broker the worker runs (and retries) it; in-process (demo, tests) the
    retries run here at once, as ``refunds.tasks.enqueue_submit`` does."""
    from celery.exceptions import Retry

    from backoffice.queueing import enqueue_now

    if not submit_evidence_to_psp.app.conf.task_always_eager:
        enqueue_now(submit_evidence_to_psp, dispute_id)
        return
    for attempt in range(PSP_EVIDENCE_MAX_RETRIES + 1):
        try:
            submit_evidence_to_psp.apply(args=(dispute_id,), retries=attempt, throw=True)
            return
        except Retry:
            continue


@shared_task(name="disputes.import_dispute_report", acks_late=True)
def import_dispute_report(import_id: int) -> str:
    """Validate and import an uploaded dispute report (all rows or none); progress is on its row."""
    from .report_import import dispute_report_run

    job = dispute_report_run(import_id=import_id)
    return job.status if job is not None else "nothing_to_do"
