"""Reads of the ledger: every queryset a view, API or task needs, with what the list shows joined in."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import django_filters
from django.db.models import QuerySet, Sum
from django.http import QueryDict

from backoffice.errors import InvalidInput

from .filters import CustomerFilter, InvoiceFilter, PaymentFilter
from .models import Customer, Invoice, Payment


def _as_text(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _filtered(
    filterset_class: type[django_filters.FilterSet], queryset: QuerySet, filters: Mapping[str, Any] | None
) -> QuerySet:
    if not filters:
        return queryset
    if not isinstance(filters, QueryDict):
        # Plain dicts from code: a scalar is one value, a list or tuple several.
        data = QueryDict(mutable=True)
        for key, value in filters.items():
            values = value if isinstance(value, list | tuple) else [value]
            data.setlist(key, [_as_text(v) for v in values if v is not None])
        filters = data
    filterset = filterset_class(data=filters, queryset=queryset)
    if not filterset.is_valid():
        raise InvalidInput("Invalid filter.", code="invalid_filter", extra={"errors": filterset.errors.get_json_data()})
    return filterset.qs


def invoice_paid_minor(*, invoice: Invoice) -> int:
    """What has been captured against the invoice, in its minor units (0 when nothing was paid)."""
    return invoice.payments.aggregate(total=Sum("amount_minor"))["total"] or 0


def customer_list(*, filters: Mapping[str, Any] | None = None) -> QuerySet[Customer]:
    return _filtered(CustomerFilter, Customer.objects.order_by("-id"), filters)


def invoice_list(*, filters: Mapping[str, Any] | None = None) -> QuerySet[Invoice]:
    return _filtered(InvoiceFilter, Invoice.objects.select_related("customer").order_by("-id"), filters)


def payment_list(*, filters: Mapping[str, Any] | None = None) -> QuerySet[Payment]:
    queryset = Payment.objects.select_related("invoice", "customer").order_by("-id")
    return _filtered(PaymentFilter, queryset, filters)
