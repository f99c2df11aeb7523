"""The filters the FilterSets are built from (amounts in major units, dates, ids, minor units).

A list is filtered one way: its FilterSet (``<app>/filters.py``) bound to the request's query and
applied to the selector's queryset — by DRF's ``DjangoFilterBackend`` for the API (a bad filter is a
400), by the queue page (a bad filter is shown and ignored) and by the dispute admin's sidebar.
Selectors take no filters of their own.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from backoffice.parsing import (
    AmountMinorFormField,
    DateFormField,
    IdFormField,
    InvalidValue,
    parse_date_value,
    parse_datetime_value,
)

# ---------------------------------------------------------------- filters people type on the queue pages


def _exponent_groups() -> dict[int, list[str]]:
    """ISO 4217 codes by number of decimals other than 2 (``{0: ["JPY", …], 3: ["KWD", …]}``), from Babel."""
    from babel.numbers import get_currency_precision, list_currencies

    groups: dict[int, list[str]] = {}
    for code in sorted(list_currencies()):
        if len(code) == 3 and code.isalpha() and code.isupper():
            exponent = get_currency_precision(code)
            if exponent != 2:
                groups.setdefault(exponent, []).append(code)
    return groups


_EXPONENTS: dict[int, list[str]] | None = None


def major_amount_q(*, field: str, currency_field: str, value: Decimal, lower: bool,
                   currency: str | None = None) -> Q:
    """``field`` (minor units) ≥ (``lower``) or ≤ ``value`` in major units of each row's own currency.

    With ``currency`` the bound is exact in that currency; without it each currency is compared in
    its own decimals (12.5 is 1250 cents, 13 yen rounded up for "from", 12 yen down for "to").
    """
    global _EXPONENTS
    if _EXPONENTS is None:
        _EXPONENTS = _exponent_groups()

    def bound(exponent: int) -> int:
        scaled = value.scaleb(exponent)
        return int(scaled.to_integral_value(rounding=ROUND_CEILING if lower else ROUND_FLOOR))

    lookup = f"{field}__{'gte' if lower else 'lte'}"
    if currency:
        from backoffice.money import currency_exponent

        return Q(**{lookup: bound(currency_exponent(currency))})
    others = [code for codes in _EXPONENTS.values() for code in codes]
    q = ~Q(**{f"{currency_field}__in": others}) & Q(**{lookup: bound(2)})
    for exponent, codes in _EXPONENTS.items():
        q |= Q(**{f"{currency_field}__in": codes, lookup: bound(exponent)})
    return q


class MajorAmountFilter(django_filters.NumberFilter):
    """An amount typed in major units ("1500", "12.50"), compared in each row's currency's own decimals."""

    def __init__(self, *args, lower: bool = True, currency_field: str = "currency", currency_param: str = "currency",
                 **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_digits", 20)
        kwargs.setdefault("decimal_places", 3)
        kwargs.setdefault("widget", forms.NumberInput(attrs={"step": "any", "min": "0", "inputmode": "decimal"}))
        super().__init__(*args, **kwargs)
        self.lower = lower
        self.currency_field = currency_field
        self.currency_param = currency_param

    def filter(self, qs: QuerySet, value: Any) -> QuerySet:
        if value in (None, ""):
            return qs
        currency = ""
        data = getattr(self.parent, "data", None) or {}
        raw = data.get(self.currency_param, "") if hasattr(data, "get") else ""
        if isinstance(raw, str) and len(raw.strip()) == 3 and raw.strip().isalpha():
            from backoffice.money import is_valid_currency

            currency = raw.strip().upper() if is_valid_currency(raw.strip().upper()) else ""
        return qs.filter(major_amount_q(field=self.field_name, currency_field=self.currency_field,
                                        value=Decimal(value), lower=self.lower, currency=currency or None))


class DayOrDateTimeField(django_filters.fields.IsoDateTimeField):
    """Takes ``2026-12-01`` (answered as a ``date``) or an ISO 8601 date-time (answered as a ``datetime``),
    both inside the window of ``backoffice.parsing`` (ASCII digits, offsets within ±15:59)."""

    def to_python(self, value: Any) -> Any:
        text = value.strip() if isinstance(value, str) else value
        try:
            if isinstance(text, str) and len(text) == 10:
                return parse_date_value(text)
            if isinstance(text, str) and not text.isascii():
                parse_datetime_value(text)  # refuses with the parsers' message
            moment = super().to_python(value)
            return parse_datetime_value(moment) if moment is not None else None
        except InvalidValue as err:
            raise forms.ValidationError("Enter a date (YYYY-MM-DD) or an ISO 8601 date and time "
                                        f"({err.reason})", code="invalid") from err


class WindowDateTimeField(DayOrDateTimeField):
    """As ``DayOrDateTimeField``, a bare date being its first instant in UTC."""

    def to_python(self, value: Any) -> Any:
        moment = super().to_python(value)
        return parse_datetime_value(moment) if isinstance(moment, date) else moment


class WindowDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time bound (or a date: from its first instant in UTC) inside the window."""

    field_class = WindowDateTimeField


class IdFilter(django_filters.NumberFilter):
    """An id: ASCII digits, 1 … 2**63 - 1."""

    field_class = IdFormField


class MinorAmountFilter(django_filters.NumberFilter):
    """An amount in minor units: a whole number, 0 … ``MAX_AMOUNT_MINOR``."""

    field_class = AmountMinorFormField


class WindowDateFilter(django_filters.DateFilter):
    field_class = DateFormField


class DayBoundFilter(django_filters.IsoDateTimeFilter):
    """A due-date bound from a date picker (``2026-12-01``) or an ISO date-time (the API's form).

    A bare date means the whole day in the reader's time zone: "after" from its first instant,
    "before" up to its last, so "due before 1 Dec" includes 1 December.
    """

    field_class = DayOrDateTimeField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", forms.DateInput(attrs={"type": "date"}))
        super().__init__(*args, **kwargs)

    def filter(self, qs: QuerySet, value: Any) -> QuerySet:
        if isinstance(value, date) and not isinstance(value, datetime):
            from backoffice.web.preferences import reader

            zone = reader().tzinfo
            last = self.lookup_expr in ("lte", "lt")
            value = datetime.combine(value, time.max if last else time.min, tzinfo=zone)
        return super().filter(qs, value)
