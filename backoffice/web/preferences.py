"""The reader of a page: their locale (money, dates) and time zone, for the length of a request.

Resolved once per request by ``ReaderMiddleware`` from the user's profile (kept in the session,
so no query per request) or, where the profile leaves it blank, from the browser: the
``Accept-Language`` header and the ``bo_tz`` cookie that ``static/js/app.js`` sets from
``Intl.DateTimeFormat().resolvedOptions().timeZone``.
"""

from __future__ import annotations

import zoneinfo
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache

from babel.core import Locale, UnknownLocaleError

DEFAULT_LOCALE = "en_US"
DEFAULT_TIME_ZONE = "UTC"
TZ_COOKIE = "bo_tz"
SESSION_KEY = "reader_preferences"


@dataclass(frozen=True)
class Reader:
    locale: str = DEFAULT_LOCALE
    time_zone: str = DEFAULT_TIME_ZONE
    locale_from_browser: bool = True
    time_zone_from_browser: bool = True

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


_DEFAULT_READER = Reader()
_reader: ContextVar[Reader | None] = ContextVar("reader", default=None)


def reader() -> Reader:
    return _reader.get() or _DEFAULT_READER


def clean_locale(value: str | None) -> str | None:
    """A CLDR locale Babel knows, normalised (``"ru-kz"`` → ``"ru_KZ"``), or None."""
    text = (value or "").strip().replace("-", "_")
    if not text or len(text) > 20:
        return None
    try:
        return str(Locale.parse(text))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def available_time_zones() -> list[str]:
    return sorted(_time_zones())


def clean_time_zone(value: str | None) -> str | None:
    text = (value or "").strip()
    return text if text in _time_zones() else None


# What the locale menu offers first; any other CLDR locale can be typed.
COMMON_LOCALES = (
    ("en_US", "English (United States)"), ("en_GB", "English (United Kingdom)"), ("de_DE", "Deutsch"),
    ("fr_FR", "Français"), ("ru_RU", "Русский"), ("ru_KZ", "Русский (Казахстан)"), ("kk_KZ", "Қазақ тілі"),
    ("uz_UZ", "Oʻzbek"), ("az_AZ", "Azərbaycan"),
)


def locale_from_accept_language(header: str | None) -> str | None:
    """The first locale of ``Accept-Language`` that Babel knows (``"ru-KZ,ru;q=0.9"`` → ``"ru_KZ"``)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*":
            ranked.append((-quality, index, tag))
    for _, _, tag in sorted(ranked):
        found = clean_locale(tag)
        if found:
            return found
    return None


def resolve(request) -> Reader:
    stored = {}
    session = getattr(request, "session", None)
    if session is not None and getattr(request, "user", None) is not None and request.user.is_authenticated:
        stored = session.get(SESSION_KEY) or {}
    locale = clean_locale(stored.get("locale"))
    time_zone = clean_time_zone(stored.get("time_zone"))
    return Reader(
        locale=locale or locale_from_accept_language(request.META.get("HTTP_ACCEPT_LANGUAGE")) or DEFAULT_LOCALE,
        time_zone=time_zone or clean_time_zone(request.COOKIES.get(TZ_COOKIE)) or DEFAULT_TIME_ZONE,
        locale_from_browser=locale is None,
        time_zone_from_browser=time_zone is None,
    )


def remember(request, *, locale: str, time_zone: str) -> None:
    """Keep the profile's choices in the session (called at login and when the profile changes)."""
    request.session[SESSION_KEY] = {"locale": locale, "time_zone": time_zone}


class ReaderMiddleware:
    """Sets the reader (locale, time zone) for the templates' ``money`` and ``when``.

    Django's own current time zone stays UTC: forms that take UTC input keep meaning UTC, and
    dates are converted for the reader only where a template says so (``|when``).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        current = resolve(request)
        request.reader = current
        token = _reader.set(current)
        try:
            return self.get_response(request)
        finally:
            _reader.reset(token)
