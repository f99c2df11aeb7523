"""Deadlines with the time left, highlighted when close or past; money for people."""

from __future__ import annotations

from datetime import UTC, datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html

from backoffice.cases.registry import DUE_SOON_HOURS

register = template.Library()


def time_left_text(when: datetime | None, *, now: datetime | None = None) -> str:
    """``"2 d 5 h left"``, ``"40 min left"`` or ``"overdue by 3 h"``; empty without a date."""
    if when is None:
        return ""
    seconds = int((when - (now or timezone.now())).total_seconds())
    past = seconds < 0
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        span = f"{days} d {hours} h"
    elif hours:
        span = f"{hours} h {minutes} min"
    else:
        span = f"{minutes} min"
    return f"overdue by {span}" if past else f"{span} left"


def due_css_class(when: datetime | None, *, now: datetime | None = None) -> str:
    if when is None:
        return ""
    left = (when - (now or timezone.now())).total_seconds()
    if left < 0:
        return "due-past"
    if left < DUE_SOON_HOURS * 3600:
        return "due-close"
    return ""


@register.simple_tag
def deadline(when: datetime | None, active: bool = True):
    """A date with the time left; the highlight only while the dispute still waits for a response."""
    if when is None:
        return "—"
    from backoffice.web.templatetags.ui import when_text

    utc = timezone.localtime(when, UTC)
    stamp = when_text(when)
    if not active:
        return format_html('<time datetime="{}" title="{} UTC">{}</time>', utc.isoformat(),
                           utc.strftime("%Y-%m-%d %H:%M"), stamp)
    css = due_css_class(when)
    return format_html(
        '<time datetime="{}" class="{}" data-due="{}" title="{} UTC">{}</time> <span class="{}">({})</span>',
        utc.isoformat(), css, css or "ok", utc.strftime("%Y-%m-%d %H:%M"), stamp, css, time_left_text(when),
    )


@register.simple_tag
def money(amount_minor: int, currency: str) -> str:
    """Money for the reader of the page (their locale; each currency's symbol and decimals)."""
    from backoffice.web.templatetags.ui import money_text

    return money_text(amount_minor, currency)
