"""Reads for the pages: bounded queue counts for the navigation, the landing page per role, saved views."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.core.cache import cache
from django.http import QueryDict
from django.urls import reverse

from backoffice.cases.registry import case_types
from backoffice.roles.predicates import can_read, is_auditor, is_specialist, is_team_lead

from .models import SavedView

# Counts stop here ("1,000+"): never a COUNT over millions of rows.
COUNT_LIMIT = 1000
COUNT_CACHE_SECONDS = 30
COUNTED_QUEUES = ("mine", "unassigned", "due-soon", "overdue", "approvals")
# Filters that only make sense in the API (minor units): the queue page offers major units instead.
API_ONLY_FILTERS = frozenset({"amount_min", "amount_max"})
# Parameters that are page state, not filters: not saved in a view.
PAGE_STATE = frozenset({"page", "cursor", "skip"})
MAX_SAVED_VIEWS = 50


def queue_count(name: str, user: Any) -> int:
    """How many cases (of every type) queue ``name`` holds for ``user``, counted up to ``COUNT_LIMIT + 1``."""
    total = 0
    for spec in case_types():
        qs = spec.queue(name, user)
        if qs is None:
            continue
        total += qs.order_by()[: COUNT_LIMIT + 1 - total].count() if total <= COUNT_LIMIT else 0
        if total > COUNT_LIMIT:
            break
    return total


def count_label(count: int) -> str:
    return f"{COUNT_LIMIT:,}+" if count > COUNT_LIMIT else f"{count:,}"


def queue_counts(user: Any) -> dict[str, str]:
    """``{"mine": "12", "approvals": "1,000+", …}`` for the queues this user sees; cached for 30 s."""
    if not can_read(user):
        return {}
    key = f"queue-counts:{user.pk}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    counts = {}
    for name in COUNTED_QUEUES:
        if name == "approvals" and not is_team_lead(user):
            continue
        counts[name] = count_label(queue_count(name, user))
    cache.set(key, counts, COUNT_CACHE_SECONDS)
    return counts


def landing_url(user: Any) -> str:
    """Where a user starts: team leads their approvals, specialists what is due soon, auditors the audit."""
    if is_team_lead(user):
        return reverse("queue", args=["approvals"])
    if is_specialist(user):
        return reverse("queue", args=["due-soon"])
    if is_auditor(user):
        return reverse("audit")
    return reverse("queue", args=["all"])


def clean_query(query: QueryDict, *, drop: frozenset[str] = frozenset(), keep_page: bool = False) -> str:
    """A canonical query string: one entry per value, empty values (and page state) dropped, first-seen order.

    The same filters always give the same URL, so a view can be bookmarked, shared and compared.
    """
    pairs: list[tuple[str, str]] = []
    for key in query.keys():
        if (key in PAGE_STATE and not keep_page) or key in drop or key == "csrfmiddlewaretoken":
            continue
        seen: set[str] = set()
        for value in query.getlist(key):
            value = value.strip()
            if value and value not in seen:
                seen.add(value)
                pairs.append((key, value))
    return urlencode(pairs)


def saved_views(*, user: Any) -> list[SavedView]:
    return list(SavedView.objects.filter(user_id=user.pk).order_by("name")[:MAX_SAVED_VIEWS])


