"""Money in the admin as people read it: major units, the currency's own decimals and symbol (never minor units)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms

from backoffice.money import MoneyError, format_money, minor_to_decimal, parse_minor


def money_display(field: str, *, description: str = "Amount", currency_field: str = "currency",
                  currency_of: Callable[[Any], str] | None = None) -> Callable[[Any, Any], str]:
    """A ``list_display`` / ``readonly_fields`` callable showing ``field`` (minor units) in major units."""

    def display(modeladmin: Any, obj: Any) -> str:
        from backoffice.web.preferences import reader

        value = getattr(obj, field, None)
        currency = currency_of(obj) if currency_of else getattr(obj, currency_field, "")
        if value is None or not currency:
            return "—"
        return format_money(int(value), currency, reader().locale)

    display.short_description = description  # type: ignore[attr-defined]
    display.admin_order_field = field  # type: ignore[attr-defined]
    return display


class MajorUnitsField(forms.CharField):
    """An amount typed in major units ("5000.00"); the form converts it with the row's currency."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal", "size": 16}))
        super().__init__(*args, **kwargs)


def to_minor(form: forms.Form, *, field: str, currency: str, positive: bool = True) -> int | None:
    """Parse ``field`` of ``form`` in major units of ``currency``; adds the error to the form when it is not valid."""
    try:
        return parse_minor(form.cleaned_data.get(field) or "", currency, positive=positive)
    except MoneyError as err:
        form.add_error(field, err.message)
        return None


def major_initial(amount_minor: int | None, currency: str) -> str:
    if amount_minor is None or not currency:
        return ""
    try:
        return str(minor_to_decimal(int(amount_minor), currency))
    except MoneyError:
        return str(amount_minor)
