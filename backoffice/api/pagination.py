"""Page-number pagination without COUNT: fetch one row more than the page to know if there is a next."""

from __future__ import annotations

from collections import OrderedDict

from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from backoffice.errors import InvalidInput


class PagePagination(BasePagination):
    page_size = 25
    max_page_size = 100
    page_query_param = "page"
    page_size_query_param = "page_size"

    def _int_param(self, request, name: str, default: int) -> int:
        raw = request.query_params.get(name)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except ValueError as exc:
            raise InvalidInput(f"'{name}' must be a whole number.", code="invalid_pagination") from exc
        if value < 1:
            raise InvalidInput(f"'{name}' must be 1 or more.", code="invalid_pagination")
        return value

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page = self._int_param(request, self.page_query_param, 1)
        size = self._int_param(request, self.page_size_query_param, self.page_size)
        self.size = min(size, self.max_page_size)
        offset = (self.page - 1) * self.size
        rows = list(queryset[offset : offset + self.size + 1])
        self.has_next = len(rows) > self.size
        return rows[: self.size]

    def get_paginated_response(self, data):
        url = self.request.build_absolute_uri()
        next_url = replace_query_param(url, self.page_query_param, self.page + 1) if self.has_next else None
        if self.page <= 1:
            prev_url = None
        elif self.page == 2:
            prev_url = remove_query_param(url, self.page_query_param)
        else:
            prev_url = replace_query_param(url, self.page_query_param, self.page - 1)
        return Response(OrderedDict([("next", next_url), ("previous", prev_url), ("results", data)]))

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "page", "required": False, "in": "query", "schema": {"type": "integer"}},
            {"name": "page_size", "required": False, "in": "query", "schema": {"type": "integer", "maximum": 100}},
        ]
