"""Writes to the ledger. Every write is a typed, keyword-only function in one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction

from backoffice.errors import InvalidInput
from backoffice.money import MoneyError, is_valid_currency, round_half_up

from .models import Customer, Invoice, InvoiceLine

INVOICE_NUMBER_FORMAT = "INV-{year}-{seq:06d}"
QUANTITY_STEP = Decimal("0.000001")  # InvoiceLine.quantity: decimal_places=6
QUANTITY_LIMIT = Decimal(10) ** 12  # max_digits=18


@dataclass(frozen=True)
class InvoiceLineInput:
    description: str
    kind: str
    quantity: Decimal
    unit_price_minor: int
    unit: str = ""


def line_amount_minor(*, quantity: Decimal, unit_price_minor: int) -> int:
    """A line's total in minor units: quantity × unit price, rounded half up (away from zero)."""
    if isinstance(quantity, float | bool) or not isinstance(quantity, Decimal | int):
        raise MoneyError("A quantity must be a Decimal or an int, never a float.")
    if isinstance(unit_price_minor, bool) or not isinstance(unit_price_minor, int):
        raise MoneyError("A unit price must be an integer number of minor units.")
    return round_half_up(Decimal(quantity) * unit_price_minor)


def invoice_next_number(*, year: int) -> str:
    """The next free number of the year's series ("INV-2026-000124" after "INV-2026-000123")."""
    prefix = INVOICE_NUMBER_FORMAT.format(year=year, seq=0)[:-6]
    last = (
        Invoice.objects.filter(number__startswith=prefix).order_by("-number").values_list("number", flat=True).first()
    )
    seq = int(last[len(prefix) :]) + 1 if last and last[len(prefix) :].isdigit() else 1
    return INVOICE_NUMBER_FORMAT.format(year=year, seq=seq)


def _line_input(line: InvoiceLineInput | Mapping[str, Any]) -> InvoiceLineInput:
    if isinstance(line, InvoiceLineInput):
        return line
    try:
        return InvoiceLineInput(**line)
    except TypeError as exc:
        raise InvalidInput(f"Invalid invoice line: {exc}.", code="invalid_invoice_line") from exc


@transaction.atomic
def invoice_create(
    *,
    customer: Customer,
    currency: str,
    lines: Iterable[InvoiceLineInput | Mapping[str, Any]],
    issued_at: datetime,
    due_at: datetime,
    number: str | None = None,
) -> Invoice:
    """Issue an invoice with its lines; its ``amount_minor`` is the sum of the line totals.

    Each line's total is ``quantity × unit_price_minor`` rounded half up. Credit lines carry a
    negative unit price; the invoice total may not go below zero. The invoice starts ``open``.
    """
    if not is_valid_currency(currency):
        raise MoneyError(f"{currency!r} is not a known currency.", code="invalid_currency")
    if due_at < issued_at:
        raise InvalidInput("The due date cannot be before the issue date.", code="invalid_due_date")
    inputs = [_line_input(line) for line in lines]
    if not inputs:
        raise InvalidInput("An invoice needs at least one line.", code="invalid_invoice_line")

    line_rows = []
    for line in inputs:
        if line.kind not in InvoiceLine.Kind.values:
            raise InvalidInput(f"Unknown line kind {line.kind!r}.", code="invalid_invoice_line")
        if isinstance(line.quantity, float | bool) or not isinstance(line.quantity, Decimal | int):
            raise MoneyError("A quantity must be a Decimal or an int, never a float.")
        quantity = Decimal(line.quantity)
        if not quantity.is_finite() or quantity <= 0:
            raise InvalidInput("A line's quantity must be greater than zero.", code="invalid_invoice_line")
        if quantity >= QUANTITY_LIMIT or quantity != quantity.quantize(QUANTITY_STEP):
            raise InvalidInput(
                "A quantity has at most 6 decimal places and 12 digits before the point.",
                code="invalid_invoice_line",
            )
        amount = line_amount_minor(quantity=quantity, unit_price_minor=line.unit_price_minor)
        if (line.kind == InvoiceLine.Kind.CREDIT) != (amount < 0) and amount != 0:
            raise InvalidInput(
                "Credit lines take a negative unit price; other lines a positive one.",
                code="invalid_invoice_line",
            )
        line_rows.append(
            InvoiceLine(
                description=line.description,
                kind=line.kind,
                quantity=quantity,
                unit=line.unit,
                unit_price_minor=line.unit_price_minor,
                amount_minor=amount,
            )
        )
    total = sum(row.amount_minor for row in line_rows)
    if total < 0:
        raise InvalidInput("Credits cannot exceed the invoice's charges.", code="invoice_total_negative")

    invoice = Invoice.objects.create(
        customer=customer,
        number=number or invoice_next_number(year=issued_at.year),
        status=Invoice.Status.OPEN,
        currency=currency,
        amount_minor=total,
        issued_at=issued_at,
        due_at=due_at,
    )
    for row in line_rows:
        row.invoice = invoice
    InvoiceLine.objects.bulk_create(line_rows)
    return invoice
