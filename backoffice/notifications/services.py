"""Alerts about cases: claim once under a unique constraint, notify in-app in the same transaction,
email after commit, mark emailed. A claimed row whose email never went out is retried by the sweep."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from backoffice.roles.models import Role

from .models import CaseAlert, Notification

logger = logging.getLogger("backoffice.notifications")

EMAIL_RETRY_AFTER = timedelta(minutes=10)


def team_leads() -> list[Any]:
    return list(get_user_model().objects.filter(is_active=True, groups__name=Role.TEAM_LEAD).distinct()
                .order_by("pk"))


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
    """Claim the alert; if it is new, write the in-app notifications in the same transaction.

    Returns None when the alert was already claimed (nothing happens twice). The email is sent
    after commit by ``alert_send_email``.
    """
    people = [u for u in recipients if u is not None]
    try:
        with transaction.atomic():
            alert = CaseAlert.objects.create(
                case_type=case_type, case_id=case_id, case_reference=case_reference, kind=kind, due_at=due_at,
                offset_days=offset_days, recipients=[u.pk for u in people],
            )
            Notification.objects.bulk_create([
                Notification(recipient=u, kind=kind, title=title, body=body, url=url, case_type=case_type,
                             case_id=case_id)
                for u in people
            ])
    except IntegrityError:
        return None
    transaction.on_commit(lambda: alert_send_email(alert_id=alert.pk, subject=title, body=f"{body}\n\n{url}"))
    return alert


def alert_send_email(*, alert_id: int, subject: str, body: str) -> bool:
    """Send the alert's email at most once, holding no lock while talking to the mail server.

    The row is stamped first with a conditional UPDATE (only one caller can win it); if the mail
    server refuses, the stamp is taken back so a retry can send it.
    """
    stamped = CaseAlert.objects.filter(pk=alert_id, emailed_at__isnull=True).update(emailed_at=timezone.now())
    if not stamped:
        return False
    alert = CaseAlert.objects.get(pk=alert_id)
    emails = list(get_user_model().objects.filter(pk__in=alert.recipients).exclude(email="")
                  .values_list("email", flat=True))
    if not emails:
        return True
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, emails, fail_silently=False)
    except OSError:
        CaseAlert.objects.filter(pk=alert_id).update(emailed_at=None)
        raise
    return True


def alert_resend_unsent(*, now: datetime | None = None) -> int:
    """Emails of alerts claimed long ago but never stamped (a worker died between claim and send)."""
    now = now or timezone.now()
    count = 0
    stale = CaseAlert.objects.filter(emailed_at__isnull=True, claimed_at__lt=now - EMAIL_RETRY_AFTER)
    # Only alerts whose send failed (the stamp was taken back) are here: a stamped alert is never resent.
    for alert in stale.order_by("pk")[:500]:
        note = Notification.objects.filter(case_type=alert.case_type, case_id=alert.case_id, kind=alert.kind) \
            .order_by("-created_at").first()
        if alert_send_email(alert_id=alert.pk, subject=note.title if note else f"{alert.kind} {alert.case_reference}",
                            body=note.body if note else ""):
            count += 1
    return count


def notification_mark_read(*, user: Any, ids: Iterable[int] | None = None) -> int:
    qs = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return qs.update(read_at=timezone.now())
