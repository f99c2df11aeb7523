from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from .models import Notification

UNREAD_CAP = 100


def notification_unread_count(*, user: Any) -> int:
    """Unread notifications, counted up to ``UNREAD_CAP`` (a badge on every page: a bounded read, never a COUNT)."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True).order_by()
    return len(unread.values_list("pk", flat=True)[:UNREAD_CAP])


def notification_list(*, user: Any, unread_only: bool = False) -> QuerySet[Notification]:
    qs = Notification.objects.filter(recipient=user)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs.order_by("-created_at", "-id")
