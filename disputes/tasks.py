"""Deadline work on disputes: reminders, overdue escalation, expiry.

Each scan selects only what is due with one indexed query per batch (``disputes.selectors``),
claims in bulk, and does per-case work only for the disputes that act; a run that finds nothing
due costs one query. Batches are bounded (``PERIODIC_TASK_BATCH_SIZE``) and a run stops when its
time budget is spent (``PERIODIC_TASK_TIME_BUDGET_SECONDS``): the next run goes on from there.
The ``*_now`` functions are what the tasks run, callable directly (the benchmarks do).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from celery import shared_task
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from backoffice.actors import CELERY
from backoffice.errors import DomainError
from backoffice.notifications.services import AlertSpec, alerts_claim, team_leads
from backoffice.scheduling import ScanResult, TimeBudget, batch_size

from .models import DisputeState
from .selectors import disputes_due_for_reminder, disputes_past_due
from .services import dispute_expire, disputes_escalate_overdue

logger = logging.getLogger("backoffice.tasks")


class _Leads:
    """The team leads, fetched at most once per run and only if someone needs them."""

    def __init__(self) -> None:
        self._leads: list[Any] | None = None

    def __call__(self) -> Sequence[Any]:
        if self._leads is None:
            self._leads = team_leads()
        return self._leads


def send_deadline_reminders_now(*, now: datetime | None = None, limit: int | None = None,
                                budget_seconds: float | None = None) -> ScanResult:
    """Claim and send the reminder of the current window for every open dispute inside one (7, 3 and
    1 days before the internal due date by default): to the assignee, or to every team lead."""
    now = now or timezone.now()
    size = batch_size(limit)
    result = ScanResult("disputes.send_deadline_reminders", budget=TimeBudget(budget_seconds))
    leads = _Leads()
    after = 0
    while True:
        rows = disputes_due_for_reminder(now=now, offsets_days=settings.DISPUTE_REMINDER_OFFSETS_DAYS,
                                         after_id=after, limit=size + 1)
        batch = rows[:size]
        if not batch:
            break
        result.batches += 1
        after = batch[-1].pk
        claimed = alerts_claim(alerts=[AlertSpec(
            case_type="dispute", case_id=d.pk, case_reference=d.reference or "", kind="reminder",
            due_at=d.internal_due_at, offset_days=d.reminder_offset,
            recipients=[d.assignee] if d.assignee_id else leads(),
            title=f"{d.reference}: evidence due in {d.reminder_offset} day(s)",
            body=f"Internal due date {d.internal_due_at:%Y-%m-%d %H:%M} UTC.",
            url=reverse("disputes:detail", args=[d.pk]),
        ) for d in batch])
        result.acted += len(claimed)
        result.skipped += len(batch) - len(claimed)
        if len(rows) <= size:
            break
        if result.out_of_time():
            break
    return result.finish()


def escalate_overdue_now(*, now: datetime | None = None, limit: int | None = None,
                         budget_seconds: float | None = None) -> ScanResult:
    """Escalate, once per internal due date, every dispute still needing a response after it."""
    now = now or timezone.now()
    size = batch_size(limit)
    result = ScanResult("disputes.escalate_overdue", budget=TimeBudget(budget_seconds))
    leads = _Leads()
    while True:
        selected, escalated = disputes_escalate_overdue(now=now, limit=size, leads=leads)
        if not selected:
            break
        result.batches += 1
        result.acted += len(escalated)
        result.skipped += selected - len(escalated)
        if selected < size:
            break
        if result.out_of_time():
            break
    return result.finish()


def expire_past_due_now(*, now: datetime | None = None, limit: int | None = None,
                        budget_seconds: float | None = None) -> ScanResult:
    """``expire`` (as ``system:celery``) every dispute still needing a response after its network deadline."""
    now = now or timezone.now()
    size = batch_size(limit)
    result = ScanResult("disputes.expire_past_due", budget=TimeBudget(budget_seconds))
    after = None
    while not result.more:
        rows = disputes_past_due(now=now, after=after, limit=size)
        if not rows:
            break
        result.batches += 1
        for pk, due_at in rows:
            if result.out_of_time():
                break
            after = (due_at, pk)
            try:
                dispute_expire(dispute_id=pk, actor=CELERY, reason="network deadline passed",
                               expected_state=DisputeState.NEEDS_RESPONSE)
                result.acted += 1
            except DomainError as err:  # changed meanwhile: a person acted, or it is locked right now
                result.skipped += 1
                logger.info("expire_skipped dispute_id=%s code=%s", pk, err.code)
        if len(rows) < size:
            break
    return result.finish()


@shared_task(name="disputes.send_deadline_reminders", acks_late=True)
def send_deadline_reminders() -> dict[str, Any]:
    return send_deadline_reminders_now().as_dict()


@shared_task(name="disputes.escalate_overdue", acks_late=True)
def escalate_overdue() -> dict[str, Any]:
    return escalate_overdue_now().as_dict()


@shared_task(name="disputes.expire_past_due", acks_late=True)
def expire_past_due() -> dict[str, Any]:
    return expire_past_due_now().as_dict()


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


@shared_task(name="disputes.resend_stalled_evidence", acks_late=True)
def resend_stalled_evidence() -> dict[str, Any]:
    """Evidence that never reached its PSP (broker down at commit, a worker killed mid-send) is sent again."""
    from .psp_evidence import psp_evidence_sweep

    return {"resent": len(psp_evidence_sweep())}


@shared_task(name="disputes.import_dispute_report", acks_late=True)
def import_dispute_report(import_id: int) -> str:
    """Validate and import an uploaded dispute report (all rows or none); progress is on its row."""
    from .report_import import dispute_report_run

    job = dispute_report_run(import_id=import_id)
    return job.status if job is not None else "nothing_to_do"
