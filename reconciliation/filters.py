"""The one FilterSet for breaks, shared by the queue page, the API and the admin."""

from __future__ import annotations

from datetime import timedelta

import django_filters
from django.db.models import Q, QuerySet
from django.utils import timezone

from backoffice.filtering import MajorAmountFilter
from backoffice.roles.selectors import workers

from .models import Break, BreakKind, BreakState, Psp

# Age buckets in whole days since the break was found: (key, label, from days, to days or None).
AGE_BUCKETS = (("0-2", "0–2 days", 0, 2), ("3-7", "3–7 days", 3, 7), ("8-30", "8–30 days", 8, 30),
               ("30+", "over 30 days", 31, None))


def age_bucket_q(key: str, *, now=None) -> Q:
    now = now or timezone.now()
    for name, _, low, high in AGE_BUCKETS:
        if name == key:
            q = Q(created_at__lte=now - timedelta(days=low))
            if high is not None:
                q &= Q(created_at__gt=now - timedelta(days=high + 1))
            return q
    return Q()


class BreakFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=BreakState.choices, distinct=False)
    kind = django_filters.MultipleChoiceFilter(choices=BreakKind.choices, distinct=False, label="Type of break")
    psp = django_filters.ChoiceFilter(choices=Psp.choices, label="PSP")
    currency = django_filters.CharFilter(method="filter_currency", max_length=3)
    amount_from = MajorAmountFilter(field_name="amount_minor", lower=True, label="Amount from")
    amount_to = MajorAmountFilter(field_name="amount_minor", lower=False, label="Amount to")
    age = django_filters.ChoiceFilter(choices=[(k, label) for k, label, *_ in AGE_BUCKETS], method="filter_age",
                                      label="Age")
    assignee = django_filters.ModelChoiceFilter(queryset=workers, null_label="Unassigned")
    settlement_import = django_filters.NumberFilter(field_name="settlement_import_id", label="Import id")
    q = django_filters.CharFilter(method="search", max_length=200, label="Reference or PSP reference")

    class Meta:
        model = Break
        fields = ["state", "kind", "psp", "currency", "amount_from", "amount_to", "age", "assignee",
                  "settlement_import", "q"]

    def filter_currency(self, queryset: QuerySet[Break], name: str, value: str) -> QuerySet[Break]:
        value = value.strip().upper()
        return queryset.filter(currency=value) if value else queryset

    def filter_age(self, queryset: QuerySet[Break], name: str, value: str) -> QuerySet[Break]:
        return queryset.filter(age_bucket_q(value)) if value else queryset

    def search(self, queryset: QuerySet[Break], name: str, value: str) -> QuerySet[Break]:
        value = value.strip()
        if not value:
            return queryset
        if value.upper().startswith(f"{Break.REFERENCE_PREFIX}-"):
            return queryset.filter(reference=value.upper())
        return queryset.filter(psp_reference=value)
