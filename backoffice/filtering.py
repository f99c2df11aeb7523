"""Applying a case type's FilterSet the same way for every selector: bad filters are a 400, never ignored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet

from backoffice.errors import InvalidInput


def apply_filterset(filterset_class: Any, queryset: QuerySet, filters: Mapping[str, Any] | None,
                    *, request: Any = None) -> QuerySet:
    if not filters:
        return queryset
    filterset = filterset_class(data=filters, queryset=queryset, request=request)
    if not filterset.is_valid():
        raise InvalidInput("Invalid filter.", code="invalid_filter",
                           extra={"errors": filterset.errors.get_json_data()})
    return filterset.qs
