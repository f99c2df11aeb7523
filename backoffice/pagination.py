"""Keyset (seek) pagination shared by the queue pages and the API: a deep page costs what page 1 costs.

A page is the ``size`` rows that follow (or precede) a *cursor*: the sort-key values of the row at
the page's edge, so the next page is ``WHERE (key, id) > (last key, last id) ORDER BY key, id
LIMIT size + 1`` — an index range scan, never an OFFSET over every skipped row, and never a COUNT.
Cursors are opaque URL-safe strings that carry the ordering they were made for; a cursor from
another ordering (the user changed the sort) or a damaged one is refused as invalid input.

Orderings are Django ``order_by`` field lists whose last field is the primary key (unique, not
null). Only the first field may be NULL: NULLs sort last ascending and first descending, as in
PostgreSQL, and a page that crosses from values into NULLs costs one more query.
A bounded *jump* (``skip`` rows past the cursor, at most ``MAX_SKIP``) serves "n pages on".
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet

from backoffice.errors import InvalidInput
from backoffice.parsing import MAX_ID, InvalidValue, check_text, parse_date_value, parse_datetime_value, parse_json

MAX_SKIP = 1000  # rows a single jump may skip past a cursor (an OFFSET of at most this)


@dataclass(frozen=True)
class OrderKey:
    field: str
    descending: bool

    @property
    def expr(self) -> str:
        return f"-{self.field}" if self.descending else self.field


def ordering_of(queryset: QuerySet) -> list[OrderKey] | None:
    """The queryset's ordering as keys ending with the primary key, or None if it cannot be a keyset."""
    names = list(queryset.query.order_by) or list(queryset.model._meta.ordering or [])
    if not names or not all(isinstance(n, str) for n in names):
        return None
    keys = [OrderKey(n.lstrip("-"), n.startswith("-")) for n in names]
    pk = queryset.model._meta.pk.name
    keys = [OrderKey(pk if k.field == "pk" else k.field, k.descending) for k in keys]
    if keys[-1].field != pk:
        keys.append(OrderKey(pk, keys[-1].descending))
    if len(keys) > 2 or any("__" in k.field for k in keys):
        return None
    return keys


def _token(keys: list[OrderKey]) -> str:
    return ",".join(k.expr for k in keys)


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"n": str(value)}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if "t" in value:  # the parsers' window and offsets: a crafted cursor reaches the database otherwise
            parsed = parse_datetime_value(str(value["t"]))
        elif "d" in value:
            parsed = parse_date_value(str(value["d"]))
        elif "n" in value:
            parsed = Decimal(str(value["n"]))
        else:
            parsed = None
        if parsed is None:
            raise ValueError("bad cursor value")
        return parsed
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_ID:
        raise ValueError("bad cursor value")
    if value is None or isinstance(value, int | str | float | bool):
        return check_text(value) if isinstance(value, str) else value
    raise ValueError("bad cursor value")


def encode_cursor(row: Any, keys: list[OrderKey], *, before: bool = False) -> str:
    """The cursor of ``row`` (a model instance): pages after it, or before it with ``before``."""
    payload = {"o": _token(keys), "v": [_encode_value(getattr(row, k.field)) for k in keys], "b": int(before)}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class Cursor:
    values: list[Any]
    before: bool


def decode_cursor(text: str, keys: list[OrderKey]) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        payload = parse_json(raw, max_bytes=4096, max_depth=4)
        if payload.get("o") != _token(keys):
            raise InvalidInput("This cursor belongs to another sort order: start again from the first page.",
                               code="invalid_cursor")
        values = [_decode_value(v) for v in payload["v"]]
        if len(values) != len(keys) or values[-1] is None:
            raise ValueError("bad cursor")
        return Cursor(values, bool(payload.get("b")))
    except InvalidValue as exc:
        raise InvalidInput("The cursor is not valid: start again from the first page.",
                           code="invalid_cursor") from exc
    except InvalidInput:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("The cursor is not valid: start again from the first page.",
                           code="invalid_cursor") from exc


def _after(keys: list[OrderKey], values: list[Any], *, forward: bool) -> list[Q]:
    """Conditions selecting rows strictly after (forward) or before the cursor in the ordering ``keys``.

    Returns one or two alternatives, tried in order: the second only when the first runs out (the
    jump between non-NULL first-key values and the NULLs).
    """
    pk = keys[-1]
    pk_cmp = "gt" if (forward and not pk.descending) or (not forward and pk.descending) else "lt"
    if len(keys) == 1:
        return [Q(**{f"{pk.field}__{pk_cmp}": values[0]})]
    first, value, last = keys[0], values[0], values[1]
    ascending_walk = first.descending != forward  # True when we walk towards larger first-key values
    nulls_ahead = ascending_walk  # NULLs sort last ascending: they come after every value when walking up
    if value is None:
        same = Q(**{f"{first.field}__isnull": True, f"{pk.field}__{pk_cmp}": last})
        if nulls_ahead:
            return [same]
        return [same, Q(**{f"{first.field}__isnull": False})]
    strict, loose = ("gt", "gte") if ascending_walk else ("lt", "lte")
    # `first >= v AND (first > v OR pk > last)`: the range condition lets the index seek; the rest filters.
    values_part = Q(**{f"{first.field}__{loose}": value}) & (
        Q(**{f"{first.field}__{strict}": value}) | Q(**{f"{pk.field}__{pk_cmp}": last}))
    if nulls_ahead:
        return [values_part, Q(**{f"{first.field}__isnull": True})]
    return [values_part]


@dataclass
class KeysetPage:
    rows: list[Any]
    keys: list[OrderKey]
    has_next: bool
    has_previous: bool

    @property
    def next_cursor(self) -> str | None:
        return encode_cursor(self.rows[-1], self.keys) if self.has_next and self.rows else None

    @property
    def previous_cursor(self) -> str | None:
        return encode_cursor(self.rows[0], self.keys, before=True) if self.has_previous and self.rows else None


def _reverse(keys: list[OrderKey]) -> list[str]:
    return [OrderKey(k.field, not k.descending).expr for k in keys]


def keyset_page(queryset: QuerySet, *, keys: list[OrderKey], cursor: str | None, size: int,
                skip: int = 0) -> KeysetPage:
    """One page of ``queryset`` (already ordered by ``keys``) after or before ``cursor``.

    ``skip`` (0 … MAX_SKIP) jumps that many rows further first. Costs one query (two when the
    page crosses into the NULLs of the first key), with no COUNT.
    """
    skip = max(0, min(int(skip), MAX_SKIP))
    if not cursor:
        rows = list(queryset[skip: skip + size + 1])
        return KeysetPage(rows[:size], keys, has_next=len(rows) > size, has_previous=skip > 0)
    position = decode_cursor(cursor, keys)
    forward = not position.before
    ordered = queryset if forward else queryset.order_by(*_reverse(keys))
    rows: list[Any] = []
    wanted = skip + size + 1
    for condition in _after(keys, position.values, forward=forward):
        rows += list(ordered.filter(condition)[: wanted - len(rows)])
        if len(rows) >= wanted:
            break
    rows = rows[skip:]
    more = len(rows) > size
    rows = rows[:size]
    if forward:
        return KeysetPage(rows, keys, has_next=more, has_previous=True)
    rows.reverse()
    return KeysetPage(rows, keys, has_next=True, has_previous=more)
