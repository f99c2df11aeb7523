"""The one FilterSet for disputes, shared by the queue page, the API and the admin."""

from __future__ import annotations

from datetime import timedelta

import django_filters
from django.db.models import QuerySet
from django.utils import timezone

from backoffice.filtering import DayBoundFilter, MajorAmountFilter, MinorAmountFilter
from backoffice.roles.selectors import workers
from backoffice.search import filter_cases

from .models import Dispute, DisputeStage, DisputeState, Network, ReasonCategory, ReasonCode


class DisputeFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=DisputeState.choices, distinct=False)
    stage = django_filters.MultipleChoiceFilter(choices=DisputeStage.choices, distinct=False)
    network = django_filters.MultipleChoiceFilter(choices=Network.choices, distinct=False)
    category = django_filters.MultipleChoiceFilter(
        choices=ReasonCategory.choices, label="Reason category", method="filter_category", distinct=False
    )
    reason_code = django_filters.CharFilter(method="filter_reason_code", max_length=32,
                                            label='Reason code (e.g. "13.1")')
    amount_min = MinorAmountFilter(field_name="amount_minor", lookup_expr="gte",
                                   label="Amount from (minor units)")
    amount_max = MinorAmountFilter(field_name="amount_minor", lookup_expr="lte",
                                   label="Amount to (minor units)")
    currency = django_filters.CharFilter(method="filter_currency", max_length=3)
    assignee = django_filters.ModelChoiceFilter(queryset=workers, null_label="Unassigned")
    amount_from = MajorAmountFilter(field_name="amount_minor", lower=True, label="Amount from")
    amount_to = MajorAmountFilter(field_name="amount_minor", lower=False, label="Amount to")
    due_after = DayBoundFilter(field_name="due_at", lookup_expr="gte", label="Due from")
    due_before = DayBoundFilter(field_name="due_at", lookup_expr="lte", label="Due until")
    due_within = django_filters.NumberFilter(method="filter_due_within", min_value=0, max_value=3650,
                                             label="Internal due within (days)")
    q = django_filters.CharFilter(method="search", max_length=200, label="Reference, PSP id or customer")

    class Meta:
        model = Dispute
        fields = ["state", "stage", "network", "category", "reason_code", "amount_min", "amount_max", "currency",
                  "assignee", "amount_from", "amount_to", "due_after", "due_before", "due_within", "q"]

    def filter_category(self, queryset: QuerySet[Dispute], name: str, value: list[str]) -> QuerySet[Dispute]:
        """By the reason codes of these categories (a short id list the planner can match to an index),
        not by joining the catalogue on every row."""
        if not value:
            return queryset
        codes = list(ReasonCode.objects.filter(category__in=value).values_list("pk", flat=True))
        return queryset.filter(reason_code_id__in=codes)

    def filter_reason_code(self, queryset: QuerySet[Dispute], name: str, value: str) -> QuerySet[Dispute]:
        value = value.strip()
        return queryset.filter(reason_code__code__iexact=value) if value else queryset

    def filter_currency(self, queryset: QuerySet[Dispute], name: str, value: str) -> QuerySet[Dispute]:
        value = value.strip().upper()
        return queryset.filter(currency=value) if value else queryset

    def filter_due_within(self, queryset: QuerySet[Dispute], name: str, value) -> QuerySet[Dispute]:
        """Open disputes whose internal due date falls between now and ``value`` days from now."""
        if value is None:
            return queryset
        now = timezone.now()
        return queryset.filter(internal_due_at__gte=now, internal_due_at__lt=now + timedelta(days=float(value)))

    def search(self, queryset: QuerySet[Dispute], name: str, value: str) -> QuerySet[Dispute]:
        """Routed by the key's shape (``backoffice.search.filter_cases``): indexed lookups, no OR across joins."""
        return filter_cases(queryset, value)
