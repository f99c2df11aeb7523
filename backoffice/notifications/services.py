"""Alerts about cases and the e-mail outbox.

* ``alerts_claim`` claims many alerts at once under the ``case_alert_once`` unique constraint
  (one INSERT that skips conflicts, one SELECT of what this call won), and for the ones it won
  writes the in-app notifications and one outbox e-mail each, in the same transaction. An alert
  claimed by someone else (a second scheduler, a redelivered task) is not this call's: nothing
  happens twice, by construction rather than by timing.
* ``outbox_deliver`` sends outbox e-mails at least once: it leases one row at a time with a
  conditional UPDATE, talks to the mail server with no lock or transaction open, and marks the
  row sent only after the server accepted it. A failure is recorded on that row (retried later,
  with backoff) and never stops the others.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from backoffice.roles.models import Role

from .models import CaseAlert, Notification, OutboxEmail

logger = logging.getLogger("backoffice.notifications")

EMAIL_LEASE = timedelta(minutes=10)  # a sender that died mid-way: the e-mail is retried after this
EMAIL_BACKOFF_MAX = timedelta(hours=1)
ALERT_HEADER = "X-Backoffice-Alert"


def team_leads() -> list[Any]:
    """Active team leads, in a stable order (one query: fetch it once per run)."""
    return list(get_user_model().objects.filter(is_active=True, groups__name=Role.TEAM_LEAD).distinct()
                .order_by("pk").only("pk", "email", "username"))


@dataclass(frozen=True)
class AlertSpec:
    """One alert to claim: the key (case, due date, kind, offset), who is told, and what they read."""

    case_type: str
    case_id: int
    case_reference: str
    kind: str
    due_at: datetime
    offset_days: int
    recipients: Sequence[Any]
    title: str
    body: str
    url: str

    @property
    def key(self) -> tuple[str, int, datetime, str, int]:
        return (self.case_type, self.case_id, self.due_at, self.kind, self.offset_days)


@dataclass
class Claimed:
    """What ``alerts_claim`` won: the alert rows and the outbox e-mails to deliver after commit."""

    alerts: list[CaseAlert] = field(default_factory=list)
    email_ids: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.alerts)


def alerts_claim(*, alerts: Sequence[AlertSpec], deliver_on_commit: bool = True) -> Claimed:
    """Claim ``alerts``; for each one won, notify in-app and queue its e-mail, all in one transaction.

    Runs inside the caller's transaction when there is one (e.g. with the escalation stamp), so a
    rollback takes the claim, the notifications and the e-mail back together. The e-mails are
    delivered after commit (``deliver_on_commit``); any left unsent are retried by
    ``notifications.deliver_outbox``.
    """
    if not alerts:
        return Claimed()
    token = uuid.uuid4().hex
    by_key = {spec.key: spec for spec in alerts}
    with transaction.atomic():
        CaseAlert.objects.bulk_create(
            [CaseAlert(case_type=s.case_type, case_id=s.case_id, case_reference=s.case_reference[:32], kind=s.kind,
                       due_at=s.due_at, offset_days=s.offset_days, claim_token=token,
                       recipients=[u.pk for u in s.recipients if u is not None])
             for s in by_key.values()],
            ignore_conflicts=True,
        )
        won = list(CaseAlert.objects.filter(
            case_type__in={s.case_type for s in alerts}, case_id__in={s.case_id for s in alerts}, claim_token=token,
        ).order_by("pk"))
        notes: list[Notification] = []
        emails: list[OutboxEmail] = []
        now = timezone.now()
        for alert in won:
            spec = by_key[(alert.case_type, alert.case_id, alert.due_at, alert.kind, alert.offset_days)]
            people = [u for u in spec.recipients if u is not None]
            notes += [Notification(recipient=u, kind=spec.kind, title=spec.title, body=spec.body, url=spec.url,
                                   case_type=spec.case_type, case_id=spec.case_id) for u in people]
            addresses = sorted({u.email for u in people if u.email})
            if addresses:
                emails.append(OutboxEmail(alert=alert, to=addresses, subject=spec.title[:255],
                                          body=f"{spec.body}\n\n{spec.url}", next_attempt_at=now))
        Notification.objects.bulk_create(notes)
        created = OutboxEmail.objects.bulk_create(emails)
    claimed = Claimed(alerts=won, email_ids=[e.pk for e in created if e.pk is not None])
    if claimed.email_ids and len(claimed.email_ids) < len(created):
        claimed.email_ids = []  # a backend that returns no ids: the periodic delivery sends them
    if deliver_on_commit and claimed.email_ids:
        ids = list(claimed.email_ids)
        transaction.on_commit(lambda: outbox_deliver(ids=ids), robust=True)
    return claimed


def alert_claim_and_notify(
    *,
    case_type: str,
    case_id: int,
    case_reference: str,
    kind: str,
    due_at: datetime,
    offset_days: int,
    recipients: Iterable[Any],
    title: str,
    body: str,
    url: str,
) -> CaseAlert | None:
    """Claim one alert (see ``alerts_claim``); None when it was already claimed."""
    claimed = alerts_claim(alerts=[AlertSpec(
        case_type=case_type, case_id=case_id, case_reference=case_reference, kind=kind, due_at=due_at,
        offset_days=offset_days, recipients=list(recipients), title=title, body=body, url=url,
    )])
    return claimed.alerts[0] if claimed.alerts else None


# ---------------------------------------------------------------- the outbox


@dataclass
class DeliveryResult:
    sent: int = 0
    failed: int = 0
    more: bool = False  # stopped by the batch limit or the time budget with e-mails still due

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": self.failed, "more": self.more}


def _backoff(attempts: int) -> timedelta:
    return min(EMAIL_BACKOFF_MAX, timedelta(minutes=2 ** min(max(attempts, 1), 6)))


def outbox_deliver(*, ids: Sequence[int] | None = None, now: datetime | None = None, limit: int | None = None,
                   budget_seconds: float | None = None) -> DeliveryResult:
    """Send due outbox e-mails (only ``ids`` when given), each at least once and never while a lock is held.

    One query selects the batch; each e-mail is then leased (a conditional UPDATE only one sender
    can win), sent, and marked sent. Stops after ``limit`` e-mails or ``budget_seconds``.
    """
    limit = limit or settings.PERIODIC_TASK_BATCH_SIZE
    budget = budget_seconds if budget_seconds is not None else settings.PERIODIC_TASK_TIME_BUDGET_SECONDS
    started = time.monotonic()
    result = DeliveryResult()
    at = now or timezone.now()
    due = OutboxEmail.objects.filter(sent_at__isnull=True, next_attempt_at__lte=at)
    if ids is not None:
        due = due.filter(pk__in=list(ids))
    fields = ("pk", "to", "subject", "body", "attempts", "alert")
    rows = list(due.order_by("next_attempt_at", "id").only(*fields)[:limit + 1])
    result.more = len(rows) > limit
    connection = None
    try:
        for row in rows[:limit]:
            if time.monotonic() - started > budget:
                result.more = True
                break
            moment = now or timezone.now()
            leased = OutboxEmail.objects.filter(pk=row.pk, sent_at__isnull=True, next_attempt_at__lte=moment).update(
                next_attempt_at=moment + EMAIL_LEASE, attempts=F("attempts") + 1)
            if not leased:
                continue  # another sender has it, or it was sent meanwhile
            connection = connection or get_connection(fail_silently=False)
            # The alert id lets a mail system (or a person) recognise a re-delivery (at least once).
            headers = {ALERT_HEADER: str(row.alert_id)} if row.alert_id else {}
            message = EmailMessage(row.subject, row.body, settings.DEFAULT_FROM_EMAIL, list(row.to),
                                   connection=connection, headers=headers)
            try:
                accepted = message.send()
                if not accepted:
                    raise OSError("the mail backend accepted no message")
            except (OSError, ValueError) as exc:  # SMTPException and socket errors are OSErrors
                result.failed += 1
                retry_at = (now or timezone.now()) + _backoff(row.attempts + 1)
                OutboxEmail.objects.filter(pk=row.pk, sent_at__isnull=True).update(
                    next_attempt_at=retry_at, last_error=f"{exc.__class__.__name__}: {exc}"[:300])
                logger.warning("email_failed outbox_id=%s attempt=%s error=%s retry_at=%s", row.pk, row.attempts + 1,
                               exc.__class__.__name__, retry_at.isoformat())
                connection.close()
                connection = None
                continue
            sent_at = now or timezone.now()
            OutboxEmail.objects.filter(pk=row.pk).update(sent_at=sent_at, last_error="")
            if row.alert_id:
                CaseAlert.objects.filter(pk=row.alert_id).update(emailed_at=sent_at)
            result.sent += 1
    finally:
        if connection is not None:
            connection.close()
    if result.sent or result.failed:
        logger.info("email_delivery sent=%s failed=%s more=%s", result.sent, result.failed, result.more)
    return result


def outbox_pending(*, now: datetime | None = None, cap: int = 1000) -> dict[str, Any]:
    """Unsent e-mails (counted up to ``cap``) and the age of the oldest, for /healthz."""
    now = now or timezone.now()
    pending = OutboxEmail.objects.filter(sent_at__isnull=True)
    count = len(pending.order_by("next_attempt_at", "id").values_list("pk", flat=True)[:cap])
    oldest = pending.order_by("created_at").values_list("created_at", flat=True).first() if count else None
    failing = pending.filter(~Q(last_error="")).exists() if count else False
    return {
        "pending": count if count < cap else f"{cap}+",
        "oldest_pending_age_seconds": int((now - oldest).total_seconds()) if oldest else None,
        "failing": failing,
    }


def notification_mark_read(*, user: Any, ids: Iterable[int] | None = None) -> int:
    qs = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return qs.update(read_at=timezone.now())
