"""Every write the pages make for themselves: the profile (locale, time zone) and saved queue views."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.http import QueryDict

from backoffice.cases.registry import QUEUE_NAMES
from backoffice.errors import InvalidInput, NotFound, PermissionDenied
from backoffice.roles.predicates import can_read

from .models import Profile, SavedView
from .preferences import clean_locale, clean_time_zone
from .selectors import MAX_SAVED_VIEWS, clean_query


def profile_update(*, user: Any, locale: str = "", time_zone: str = "") -> Profile:
    """Set how pages show money and time to ``user``; blank follows the browser."""
    locale_value = ""
    if (locale or "").strip():
        locale_value = clean_locale(locale) or ""
        if not locale_value:
            raise InvalidInput(f"{locale!r} is not a locale we know, e.g. en_GB or ru_KZ.", code="invalid_locale")
    tz_value = ""
    if (time_zone or "").strip():
        tz_value = clean_time_zone(time_zone) or ""
        if not tz_value:
            raise InvalidInput(f"{time_zone!r} is not an IANA time zone, e.g. Asia/Almaty.",
                               code="invalid_time_zone")
    with transaction.atomic():
        profile, _ = Profile.objects.select_for_update().get_or_create(user=user)
        profile.locale, profile.time_zone = locale_value, tz_value
        profile.save(update_fields=["locale", "time_zone", "updated_at"])
    return profile


def saved_view_create(*, user: Any, name: str, queue: str, query: str) -> SavedView:
    """Save (or replace) a named view of a queue with its filters for ``user``."""
    name = (name or "").strip()
    if not can_read(user):
        raise PermissionDenied("Only people with a role save queue views.")
    if not name:
        raise InvalidInput("Give the view a name.", code="name_required")
    if len(name) > 80:
        raise InvalidInput("A view name is limited to 80 characters.", code="name_too_long")
    if queue not in QUEUE_NAMES:
        raise InvalidInput(f"Unknown queue {queue!r}.", code="unknown_queue")
    query = clean_query(QueryDict(query or ""))
    if len(query) > 1000:
        raise InvalidInput("These filters are too long to save.", code="query_too_long")
    with transaction.atomic():
        existing = SavedView.objects.select_for_update().filter(user_id=user.pk, name=name).first()
        if existing is not None:
            existing.queue, existing.query = queue, query
            existing.save(update_fields=["queue", "query"])
            return existing
        if SavedView.objects.filter(user_id=user.pk).count() >= MAX_SAVED_VIEWS:
            raise InvalidInput(f"At most {MAX_SAVED_VIEWS} saved views; delete one first.", code="too_many_views")
        try:
            with transaction.atomic():
                return SavedView.objects.create(user=user, name=name, queue=queue, query=query)
        except IntegrityError:
            view = SavedView.objects.get(user_id=user.pk, name=name)
            view.queue, view.query = queue, query
            view.save(update_fields=["queue", "query"])
            return view


def saved_view_delete(*, user: Any, view_id: int) -> None:
    deleted, _ = SavedView.objects.filter(user_id=user.pk, pk=view_id).delete()
    if not deleted:
        raise NotFound("No such saved view.")
