"""One FilterSet per ledger list; the API, the pages and the selectors share them.

Foreign keys are filtered by id (``NumberFilter``), not ``ModelChoiceFilter``, so rendering a
filter form never loads a whole table of customers or invoices into a ``<select>``.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import QuerySet

from backoffice.filtering import IdFilter, WindowDateFilter, WindowDateTimeFilter
from backoffice.roles.selectors import workers
from backoffice.search import filter_cases, filter_customers, filter_invoices, filter_payments

from .models import Customer, ExtensionState, Invoice, Payment, PaymentExtension


def _upper(queryset: QuerySet, name: str, value: str) -> QuerySet:
    return queryset.filter(**{name: value.strip().upper()}) if value else queryset


class InvoiceFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Invoice.Status.choices, distinct=False)
    currency = django_filters.CharFilter(method=_upper, max_length=3)
    customer = IdFilter(field_name="customer_id")
    due_before = WindowDateTimeFilter(field_name="due_at", lookup_expr="lte")
    due_after = WindowDateTimeFilter(field_name="due_at", lookup_expr="gte")
    q = django_filters.CharFilter(method="search", label="Number or customer name")

    class Meta:
        model = Invoice
        fields = ["status", "currency", "customer", "due_before", "due_after", "q"]

    def search(self, queryset: QuerySet[Invoice], name: str, value: str) -> QuerySet[Invoice]:
        return filter_invoices(queryset, value)


class PaymentFilter(django_filters.FilterSet):
    currency = django_filters.CharFilter(method=_upper, max_length=3)
    network = django_filters.MultipleChoiceFilter(choices=Payment.Network.choices, distinct=False)
    method = django_filters.MultipleChoiceFilter(choices=Payment.Method.choices, distinct=False)
    psp = django_filters.ChoiceFilter(choices=Payment.Psp.choices)
    customer = IdFilter(field_name="customer_id")
    invoice = IdFilter(field_name="invoice_id")
    captured_before = WindowDateTimeFilter(field_name="captured_at", lookup_expr="lte")
    captured_after = WindowDateTimeFilter(field_name="captured_at", lookup_expr="gte")
    q = django_filters.CharFilter(method="search", label="PSP reference")

    class Meta:
        model = Payment
        fields = [
            "currency",
            "network",
            "method",
            "psp",
            "customer",
            "invoice",
            "captured_before",
            "captured_after",
            "q",
        ]

    def search(self, queryset: QuerySet[Payment], name: str, value: str) -> QuerySet[Payment]:
        return filter_payments(queryset, value)


class CustomerFilter(django_filters.FilterSet):
    country = django_filters.CharFilter(method=_upper, max_length=2)
    currency = django_filters.CharFilter(field_name="default_currency", method=_upper, max_length=3)
    q = django_filters.CharFilter(method="search", label="Name or email")

    class Meta:
        model = Customer
        fields = ["country", "currency", "q"]

    def search(self, queryset: QuerySet[Customer], name: str, value: str) -> QuerySet[Customer]:
        return filter_customers(queryset, value)



class ExtensionFilter(django_filters.FilterSet):
    """Payment extensions: the queue page, the API and the admin share it.

    ``due_before`` / ``due_after`` bound the promised ``new_due_date`` (dates, inclusive).
    """

    state = django_filters.MultipleChoiceFilter(choices=ExtensionState.choices, distinct=False)
    customer = IdFilter(field_name="invoice__customer_id", label="Customer id")
    invoice = IdFilter(field_name="invoice_id", label="Invoice id")
    days_min = django_filters.NumberFilter(field_name="days_requested", lookup_expr="gte", min_value=0,
                                           label="Days requested from")
    days_max = django_filters.NumberFilter(field_name="days_requested", lookup_expr="lte", min_value=0,
                                           label="Days requested to")
    due_after = WindowDateFilter(field_name="new_due_date", lookup_expr="gte", label="New due from",
                                          widget=forms.DateInput(attrs={"type": "date"}))
    due_before = WindowDateFilter(field_name="new_due_date", lookup_expr="lte", label="New due to",
                                           widget=forms.DateInput(attrs={"type": "date"}))
    currency = django_filters.CharFilter(field_name="invoice__currency", method=_upper, max_length=3)
    assignee = django_filters.ModelChoiceFilter(queryset=workers, null_label="Unassigned")
    broken_promise = django_filters.BooleanFilter(field_name="customer_broke_promise_recently",
                                                  label="Customer broke a promise")
    q = django_filters.CharFilter(method="search", max_length=200, label="Reference, invoice or customer")

    class Meta:
        model = PaymentExtension
        fields = ["state", "customer", "invoice", "days_min", "days_max", "due_after", "due_before", "currency",
                  "assignee", "broken_promise", "q"]

    def search(self, queryset: QuerySet[PaymentExtension], name: str, value: str) -> QuerySet[PaymentExtension]:
        return filter_cases(queryset, value)
