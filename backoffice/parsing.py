"""Input validation at the edge, once: the parsers every interface uses for values people and PSPs send.

Each parser takes what arrived (a string from a query string or a form, a JSON value) and returns a
clean Python value or raises ``InvalidValue`` — an ``InvalidInput``, so the API answers 400
``{"detail", "code", "field"}`` and pages show it as a form error (``ParsedFormField``,
``ParsedSerializerField``). What they refuse, and why:

- integers: ASCII digits only (``"²".isdigit()`` is true and ``int("²")`` raises), at most 19 digits;
- ids: 1 … 2**63 - 1 (a PostgreSQL ``bigint``); pages: 1 … ``MAX_PAGE``;
- amounts in minor units: whole numbers only (``12.0`` and ``"12.0"`` are refused), 0 … ``MAX_AMOUNT_MINOR``;
- dates and date-times: ISO 8601 in ASCII, offsets within ±15:59, and inside ``WINDOW_START`` …
  ``WINDOW_END`` once in UTC (``9999-12-31T23:59:59-12:00`` is year 10000 in UTC: Python could not
  read it back from the database);
- text: no NUL byte (PostgreSQL refuses it), no lone surrogate (not encodable), a length bound;
- JSON: a size bound and a nesting bound checked *before* ``json.loads`` (which recurses).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils.dateparse import parse_date as _django_parse_date
from django.utils.dateparse import parse_datetime as _django_parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.parsers import JSONParser

from backoffice.errors import InvalidInput

MAX_ID = 2**63 - 1
MAX_PAGE = 100_000
MAX_AMOUNT_MINOR = 10**15  # 10 trillion in a two-decimal currency; a bigint holds 9.2 * 10**18
MAX_DIGITS = 19
MAX_OFFSET = timedelta(hours=15, minutes=59)
WINDOW_START = datetime(2000, 1, 1, tzinfo=UTC)
WINDOW_END = datetime(2100, 1, 1, tzinfo=UTC)
MAX_JSON_BYTES = 1_048_576
MAX_JSON_DEPTH = 64
MAX_TEXT = 100_000

_INT = re.compile(rf"[+-]?[0-9]{{1,{MAX_DIGITS}}}")
_OFFSET = re.compile(r"(?:Z|[+-]\d{2}(?::?\d{2})?)$")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]")


class InvalidValue(InvalidInput):
    """A value that arrived from outside is not acceptable: 400 with ``field`` naming it."""

    code = "invalid_value"

    def __init__(self, message: str, *, field: str = "", code: str | None = None):
        super().__init__(f"{field}: {message}" if field else message, code=code,
                         extra={"field": field} if field else None)
        self.field = field
        self.reason = message


# ---------------------------------------------------------------- numbers


def parse_int(value: Any, *, field: str = "", min_value: int | None = None, max_value: int | None = None,
              code: str = "invalid_integer") -> int:
    """A whole number from JSON (an ``int``, not a ``bool`` or a ``float``) or text of ASCII digits."""
    if isinstance(value, bool):
        raise InvalidValue("must be a whole number, not true/false.", field=field, code=code)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if not _INT.fullmatch(text):
            raise InvalidValue("must be a whole number written with the digits 0-9.", field=field, code=code)
        number = int(text)
    else:
        raise InvalidValue("must be a whole number.", field=field, code=code)
    if min_value is not None and number < min_value:
        raise InvalidValue(f"must be {min_value} or more.", field=field, code=code)
    if max_value is not None and number > max_value:
        raise InvalidValue(f"must be at most {max_value}.", field=field, code=code)
    return number


def parse_id(value: Any, *, field: str = "id") -> int:
    """A database id: 1 … 2**63 - 1."""
    return parse_int(value, field=field, min_value=1, max_value=MAX_ID, code="invalid_id")


def parse_optional_id(value: Any, *, field: str = "id") -> int | None:
    """``None`` for nothing (``None`` or blank), else an id."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_id(value, field=field)


def parse_page(value: Any, *, field: str = "page", max_page: int = MAX_PAGE) -> int:
    """A page number, 1 when nothing was given."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return 1
    return parse_int(value, field=field, min_value=1, max_value=max_page, code="invalid_page")


def parse_amount_minor(value: Any, *, field: str = "amount_minor", min_value: int | None = 1,
                       max_value: int = MAX_AMOUNT_MINOR) -> int:
    """An amount in minor units: a whole number (``12.0`` is refused: minor units have no fraction)."""
    if isinstance(value, float) or (isinstance(value, str) and "." in value):
        raise InvalidValue("is in minor units: a whole number without a decimal point.", field=field,
                           code="invalid_amount")
    return parse_int(value, field=field, min_value=min_value, max_value=max_value, code="invalid_amount")


def id_or_none(value: Any) -> int | None:
    """An id when the value is one, else ``None`` (for records that only note which case was meant)."""
    try:
        return parse_id(value)
    except InvalidValue:
        return None


# ---------------------------------------------------------------- dates and times


def _in_window(moment: datetime, *, field: str, code: str) -> datetime:
    if not WINDOW_START <= moment < WINDOW_END:
        raise InvalidValue(f"must be between {WINDOW_START:%Y-%m-%d} and {WINDOW_END:%Y-%m-%d} (UTC).",
                           field=field, code=code)
    return moment


def parse_datetime_value(value: Any, *, field: str = "", day_end: bool = False,
                         code: str = "invalid_datetime") -> datetime:
    """An aware UTC date-time. Text is ISO 8601 (naive = UTC; an offset within ±15:59); a bare date is
    the start of that day in UTC, or its last second with ``day_end``."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(23, 59, 59) if day_end else time.min)
    elif isinstance(value, str):
        text = value.strip()
        message = "must be an ISO 8601 date and time, e.g. 2026-12-01T17:00:00Z."
        if not text.isascii() or len(text) > 40:
            raise InvalidValue(message, field=field, code=code)
        if len(text) == 10:
            return parse_datetime_value(parse_date_value(text, field=field, code=code), field=field,
                                        day_end=day_end, code=code)
        offset = _OFFSET.search(text)
        if offset and offset.group() != "Z":
            digits = offset.group()[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:] or 0)
            if minutes > 59 or timedelta(hours=hours, minutes=minutes) > MAX_OFFSET:
                raise InvalidValue("has a time-zone offset beyond ±15:59.", field=field, code=code)
        try:
            parsed = _django_parse_datetime(text)
        except ValueError:
            parsed = None
        if parsed is None:
            raise InvalidValue(message, field=field, code=code)
        moment = parsed
    else:
        raise InvalidValue("must be an ISO 8601 date and time.", field=field, code=code)
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    elif abs(moment.utcoffset()) > MAX_OFFSET:
        raise InvalidValue("has a time-zone offset beyond ±15:59.", field=field, code=code)
    if moment.year in (1, 9999):  # a shift to UTC could leave Python's range
        if moment.year == 1:
            raise InvalidValue(f"must be after {WINDOW_START:%Y-%m-%d}.", field=field, code=code)
        raise InvalidValue(f"must be before {WINDOW_END:%Y-%m-%d}.", field=field, code=code)
    return _in_window(moment.astimezone(UTC), field=field, code=code)


def parse_date_value(value: Any, *, field: str = "", code: str = "invalid_date") -> date:
    """A calendar date ``YYYY-MM-DD`` inside the window."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        day = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            day = _django_parse_date(text) if text.isascii() and len(text) == 10 else None
        except ValueError:
            day = None
        if day is None:
            raise InvalidValue("Enter a valid date. Use YYYY-MM-DD.", field=field, code=code)
    else:
        raise InvalidValue("Enter a valid date. Use YYYY-MM-DD.", field=field, code=code)
    if not WINDOW_START.date() <= day < WINDOW_END.date():
        raise InvalidValue(f"must be between {WINDOW_START:%Y-%m-%d} and {WINDOW_END:%Y-%m-%d}.", field=field,
                           code=code)
    return day


def clamp_to_window(moment: datetime) -> datetime:
    """The nearest instant inside the window (for repairing stored values, never for input)."""
    return min(max(moment, WINDOW_START), WINDOW_END - timedelta(seconds=1))


# ---------------------------------------------------------------- text and JSON


def check_text(text: str, *, field: str = "") -> str:
    """Refuse a NUL byte (PostgreSQL cannot store it) or a lone surrogate (not UTF-8)."""
    if "\x00" in text:
        raise InvalidValue("must not contain a NUL character.", field=field, code="invalid_text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidValue("is not valid Unicode text.", field=field, code="invalid_text") from exc
    return text


# A card number typed or pasted into free text: 13–19 digits (spaces or dashes between them allowed) that
# pass the Luhn check, standing alone (not inside a hex digest or another token). Never stored: the
# writer is asked for the last four digits instead.
_CARD_RUN = re.compile(r"(?<![0-9A-Za-z])[0-9](?:[ -]?[0-9]){12,18}(?![0-9A-Za-z])")


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def contains_card_number(text: str) -> bool:
    for match in _CARD_RUN.finditer(text or ""):
        digits = re.sub(r"[ -]", "", match.group())
        if digits.isascii() and 13 <= len(digits) <= 19 and luhn_valid(digits):
            return True
    return False


# What a party outside our control sends us (webhook bodies, their headers and events) is stored, not refused:
# a card number in it is masked to its first six and last four digits (what PCI DSS allows keeping) before
# it is written. Only runs whose first digit is a card network's (2–6) count, so a PSP's numeric reference
# (Adyen's 16-digit pspReference starts with 8 or 9) is never taken for a card.
_CARD_RUN_BYTES = re.compile(_CARD_RUN.pattern.encode())


def _masked_run(run: str) -> str | None:
    digits = re.sub(r"[ -]", "", run)
    if not (digits.isascii() and 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits)):
        return None
    out, seen = [], 0
    for char in run:
        if char.isdigit():
            out.append(char if seen < 6 or seen >= len(digits) - 4 else "*")
            seen += 1
        else:
            out.append(char)
    return "".join(out)


def mask_card_numbers(text: str) -> tuple[str, int]:
    """``text`` with every card number masked (first six and last four kept), and how many were masked."""
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        masked = _masked_run(match.group())
        if masked is None:
            return match.group()
        count += 1
        return masked

    return _CARD_RUN.sub(replace, text or ""), count


def mask_card_numbers_bytes(body: bytes) -> tuple[bytes, int]:
    """The same over raw bytes (a body kept byte for byte): only ASCII digit runs change, lengths are kept."""
    count = 0

    def replace(match: re.Match[bytes]) -> bytes:
        nonlocal count
        masked = _masked_run(match.group().decode("ascii"))
        if masked is None:
            return match.group()
        count += 1
        return masked.encode("ascii")

    return _CARD_RUN_BYTES.sub(replace, body or b""), count


def mask_card_numbers_json(value: Any) -> tuple[Any, int]:
    """A parsed JSON value with card numbers masked in every string, and every integer that is one turned
    into its masked string."""
    if isinstance(value, str):
        return mask_card_numbers(value)
    if isinstance(value, int) and not isinstance(value, bool):
        masked = _masked_run(str(value)) if value > 0 else None
        return (masked, 1) if masked is not None else (value, 0)
    if isinstance(value, dict):
        total, out = 0, {}
        for key, item in value.items():
            out[key], found = mask_card_numbers_json(item)
            total += found
        return out, total
    if isinstance(value, list):
        total, items = 0, []
        for item in value:
            masked, found = mask_card_numbers_json(item)
            items.append(masked)
            total += found
        return items, total
    return value, 0


def refuse_card_numbers(text: str, *, field: str = "text") -> str:
    """Free text people write (comments, reasons, evidence, notes) must not carry a card number."""
    if contains_card_number(text):
        raise InvalidValue("looks like it contains a card number. Never store card numbers here: "
                           "write the last four digits instead.", field=field, code="card_number_in_text")
    return text


def parse_text(value: Any, *, field: str = "", max_length: int = MAX_TEXT, strip: bool = True,
               required: bool = False) -> str:
    """Text from a form, a query string or JSON."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidValue("must be text.", field=field, code="invalid_text")
    text = check_text(value.strip() if strip else value, field=field)
    if len(text) > max_length:
        raise InvalidValue(f"is limited to {max_length:,} characters.", field=field, code="invalid_text")
    if required and not text:
        raise InvalidValue("is required.", field=field, code="required")
    return text


def parse_json(body: bytes | str, *, field: str = "body", max_bytes: int = MAX_JSON_BYTES,
               max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A JSON document, its size and nesting bounded before it is parsed (``json.loads`` recurses)."""
    if len(body) > max_bytes:
        raise InvalidValue(f"is larger than {max_bytes:,} bytes.", field=field, code="too_large")
    try:
        text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else body
    except UnicodeDecodeError as exc:
        raise InvalidValue("is not UTF-8.", field=field, code="malformed") from exc
    depth = deepest = 0
    for bracket in _NOT_BRACKET.sub("", _JSON_STRING.sub('""', text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(depth, deepest)
    if deepest > max_depth:
        raise InvalidValue(f"nests deeper than {max_depth} levels.", field=field, code="too_deep")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidValue("is not JSON.", field=field, code="malformed") from exc
    if "\\u" in text:  # an escaped lone surrogate ("\ud800") parses, but no database or response can encode it
        try:
            json.dumps(document, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidValue("contains a lone surrogate (not Unicode text).", field=field,
                               code="invalid_text") from exc
    return document


# ---------------------------------------------------------------- adapters: forms, DRF, filters


class ParsedFormField(forms.Field):
    """A form field whose value goes through one of the parsers: ``ParsedFormField(parse_id)``."""

    def __init__(self, parser, *args, parser_kwargs: dict | None = None, max_length: int = 100, **kwargs):
        self.parser = parser
        self.parser_kwargs = parser_kwargs or {}
        self.max_length = max_length
        super().__init__(*args, **kwargs)

    def to_python(self, value: Any) -> Any:
        if value in self.empty_values or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str) and len(value) > self.max_length:
            raise forms.ValidationError(f"Enter at most {self.max_length} characters.", code="max_length")
        try:
            return self.parser(value, **self.parser_kwargs)
        except InvalidValue as err:
            raise forms.ValidationError(err.reason, code=err.code) from err


class IdFormField(ParsedFormField):
    def __init__(self, *args, **kwargs):
        super().__init__(parse_id, *args, **kwargs)


class AmountMinorFormField(ParsedFormField):
    """Minor units, 0 or more (a filter bound)."""

    def __init__(self, *args, **kwargs):
        super().__init__(parse_amount_minor, *args, parser_kwargs={"min_value": 0}, **kwargs)


class DateFormField(ParsedFormField):
    def __init__(self, *args, **kwargs):
        super().__init__(parse_date_value, *args, **kwargs)


class DateTimeFormField(ParsedFormField):
    """An ISO 8601 date-time in the window; a bare date is its last second with ``day_end``."""

    def __init__(self, *args, day_end: bool = False, **kwargs):
        super().__init__(parse_datetime_value, *args, parser_kwargs={"day_end": day_end}, **kwargs)


class ParsedSerializerField(serializers.Field):
    """A DRF field whose value goes through one of the parsers; its schema is ``schema_type``."""

    def __init__(self, parser, *, parser_kwargs: dict | None = None, **kwargs):
        self.parser = parser
        self.parser_kwargs = parser_kwargs or {}
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        try:
            return self.parser(data, **self.parser_kwargs)
        except InvalidValue as err:
            raise serializers.ValidationError(err.reason, code=err.code) from err

    def to_representation(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if isinstance(value, date):
            return value.isoformat()
        return value


@extend_schema_field(OpenApiTypes.INT64)
class StrictIntegerField(ParsedSerializerField):
    """An integer (ASCII digits, bounded) in a DRF serializer."""

    def __init__(self, *, min_value: int | None = None, max_value: int | None = MAX_ID, **kwargs):
        super().__init__(parse_int, parser_kwargs={"min_value": min_value, "max_value": max_value}, **kwargs)


@extend_schema_field({"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID})
class IdField(ParsedSerializerField):
    def __init__(self, **kwargs):
        super().__init__(parse_id, **kwargs)


@extend_schema_field(OpenApiTypes.DATETIME)
class WindowDateTimeField(ParsedSerializerField):
    """An ISO 8601 date-time (or a date: its last second with ``day_end``) inside the window, in UTC."""

    def __init__(self, *, day_end: bool = False, **kwargs):
        super().__init__(parse_datetime_value, parser_kwargs={"day_end": day_end}, **kwargs)


@extend_schema_field(OpenApiTypes.DATE)
class WindowDateField(ParsedSerializerField):
    def __init__(self, **kwargs):
        super().__init__(parse_date_value, **kwargs)


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with ``parse_json``'s size and depth bounds (a 10,000-deep body is a 400)."""

    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read(MAX_JSON_BYTES + 1) if stream is not None else b""
        try:
            return parse_json(body)
        except InvalidValue as err:
            raise exceptions.ParseError(err.message) from err
