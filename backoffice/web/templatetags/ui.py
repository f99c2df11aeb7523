"""Money and time for the reader of the page (their locale and time zone), and small page helpers."""

from __future__ import annotations

from datetime import UTC, date, datetime

from babel.dates import format_datetime, format_skeleton
from django import template
from django.utils import timezone
from django.utils.html import format_html

from backoffice.money import format_money
from backoffice.web.preferences import reader

register = template.Library()


def money_text(amount_minor: int | None, currency: str) -> str:
    if amount_minor is None or not currency:
        return "—"
    return format_money(int(amount_minor), currency, reader().locale)


@register.simple_tag
def money(amount_minor: int | None, currency: str) -> str:
    """``{% money 41124493 "KZT" %}`` → ``₸411,244.93`` (en) or ``411 244,93 ₸`` (ru)."""
    return money_text(amount_minor, currency)


def when_text(value: datetime | date | None, *, with_time: bool = True) -> str:
    if value is None:
        return ""
    current = reader()
    if isinstance(value, datetime):
        if timezone.is_naive(value):
            value = value.replace(tzinfo=UTC)
        day = format_skeleton("yMMMd", value, tzinfo=current.tzinfo, locale=current.locale)
        if not with_time:
            return day
        clock = format_skeleton("Hm", value, tzinfo=current.tzinfo, locale=current.locale)
        zone = format_datetime(value, "z", tzinfo=current.tzinfo, locale=current.locale)
        return f"{day} {clock} {zone}"
    return format_skeleton("yMMMd", value, locale=current.locale)


@register.filter
def when(value: datetime | date | None, style: str = "") -> str:
    """A ``<time>`` in the reader's locale and time zone; the UTC moment in ``datetime`` and the tooltip."""
    if value is None:
        return "—"
    text = when_text(value, with_time=style != "date")
    if isinstance(value, datetime):
        utc = value.astimezone(UTC) if timezone.is_aware(value) else value.replace(tzinfo=UTC)
        return format_html('<time datetime="{}" title="{} UTC">{}</time>', utc.isoformat(),
                           utc.strftime("%Y-%m-%d %H:%M"), text)
    return format_html('<time datetime="{}">{}</time>', value.isoformat(), text)


@register.simple_tag(takes_context=True)
def query_with(context, **changes) -> str:
    """The current query string with ``changes`` applied (``None`` or "" removes a key)."""
    request = context.get("request")
    query = request.GET.copy() if request is not None else None
    if query is None:
        return ""
    for key, value in changes.items():
        if value in (None, ""):
            query.pop(key, None)
        else:
            query[key] = value
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.simple_tag(takes_context=True)
def query_set(context, key: str, value) -> str:
    """``{% query_set "page" 2 %}``: the current query string with one key set (or removed when empty)."""
    return query_with(context, **{key: value})
