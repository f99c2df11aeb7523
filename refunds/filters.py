"""The one FilterSet for refunds, shared by the queue page, the API and the admin."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from backoffice.filtering import DayBoundFilter, IdFilter, MajorAmountFilter, MinorAmountFilter
from backoffice.roles.selectors import workers
from backoffice.search import filter_cases

from .models import Refund, RefundReason, RefundState


class RefundFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=RefundState.choices, distinct=False)
    reason = django_filters.MultipleChoiceFilter(choices=RefundReason.choices, distinct=False)
    currency = django_filters.CharFilter(method="filter_currency", max_length=3)
    assignee = django_filters.ModelChoiceFilter(queryset=workers, null_label="Unassigned")
    requester = django_filters.ModelChoiceFilter(queryset=workers)
    payment = IdFilter(field_name="payment_id", label="Payment id")
    amount_min = MinorAmountFilter(field_name="amount_minor", lookup_expr="gte",
                                   label="Amount from (minor units)")
    amount_max = MinorAmountFilter(field_name="amount_minor", lookup_expr="lte",
                                   label="Amount to (minor units)")
    amount_from = MajorAmountFilter(field_name="amount_minor", lower=True, label="Amount from")
    amount_to = MajorAmountFilter(field_name="amount_minor", lower=False, label="Amount to")
    due_after = DayBoundFilter(field_name="due_at", lookup_expr="gte", label="Due from")
    due_before = DayBoundFilter(field_name="due_at", lookup_expr="lte", label="Due until")
    q = django_filters.CharFilter(method="search", max_length=200, label="Reference, PSP id or customer")

    class Meta:
        model = Refund
        fields = ["state", "reason", "currency", "assignee", "requester", "payment", "amount_min", "amount_max",
                  "amount_from", "amount_to", "due_after", "due_before", "q"]

    def filter_currency(self, queryset: QuerySet[Refund], name: str, value: str) -> QuerySet[Refund]:
        value = value.strip().upper()
        return queryset.filter(currency=value) if value else queryset

    def search(self, queryset: QuerySet[Refund], name: str, value: str) -> QuerySet[Refund]:
        """Routed by the key's shape (``backoffice.search.filter_cases``): indexed lookups, no OR across joins."""
        return filter_cases(queryset, value)
