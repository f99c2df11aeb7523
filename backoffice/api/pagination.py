"""API list pagination: keyset by ``cursor`` (``next``/``previous`` carry it), ``page`` within a bounded depth.

Never a COUNT. ``?cursor=…`` seeks from the edge row of the previous page along the list's ordering
(see ``backoffice.pagination``), so page 10,000 costs what page 1 costs. ``?page=N`` keeps working
for existing clients up to ``MAX_PAGE_DEPTH_ROWS`` rows deep (an OFFSET); deeper is refused with
``page_too_deep``, and the ``next`` link of any page is a cursor link.
"""

from __future__ import annotations

from collections import OrderedDict

from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from backoffice.errors import InvalidInput
from backoffice.pagination import KeysetPage, keyset_page, ordering_of
from backoffice.parsing import InvalidValue, parse_int

MAX_PAGE_DEPTH_ROWS = 10_000


class PagePagination(BasePagination):
    page_size = 25
    max_page_size = 100
    page_query_param = "page"
    page_size_query_param = "page_size"
    cursor_query_param = "cursor"

    def _int_param(self, request, name: str, default: int) -> int:
        raw = request.query_params.get(name)
        if raw in (None, ""):
            return default
        try:
            value = parse_int(raw, field=name)
        except InvalidValue as exc:
            raise InvalidInput(f"'{name}' must be a whole number.", code="invalid_pagination") from exc
        if value < 1:
            raise InvalidInput(f"'{name}' must be 1 or more.", code="invalid_pagination")
        return value

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page = self._int_param(request, self.page_query_param, 1)
        size = self._int_param(request, self.page_size_query_param, self.page_size)
        self.size = min(size, self.max_page_size)
        self.cursor = request.query_params.get(self.cursor_query_param) or None
        keys = ordering_of(queryset)
        if self.cursor and self.page > 1:
            raise InvalidInput("Use either 'cursor' or 'page', not both.", code="invalid_pagination")
        offset = (self.page - 1) * self.size
        if offset >= MAX_PAGE_DEPTH_ROWS:
            raise InvalidInput(
                f"'page' reaches at most {MAX_PAGE_DEPTH_ROWS:,} rows deep: follow the 'next' links "
                "(they carry a 'cursor') to go further.", code="page_too_deep")
        if keys is None:
            if self.cursor:
                raise InvalidInput("This list does not take a cursor; use 'page'.", code="invalid_cursor")
            rows = list(queryset[offset: offset + self.size + 1])
            self.keyset = None
            self.has_next = len(rows) > self.size
            return rows[: self.size]
        if self.cursor:
            self.keyset = keyset_page(queryset, keys=keys, cursor=self.cursor, size=self.size)
        else:
            self.keyset = keyset_page(queryset, keys=keys, cursor=None, size=self.size, skip=0) if offset == 0 \
                else _offset_page(queryset, keys, offset, self.size)
        self.has_next = self.keyset.has_next
        return self.keyset.rows

    def get_paginated_response(self, data):
        url = self.request.build_absolute_uri()
        base = remove_query_param(remove_query_param(url, self.page_query_param), self.cursor_query_param)
        page: KeysetPage | None = self.keyset
        if page is not None:
            next_url = replace_query_param(base, self.cursor_query_param, page.next_cursor) if page.next_cursor \
                else None
            prev_url = replace_query_param(base, self.cursor_query_param, page.previous_cursor) \
                if page.previous_cursor else None
            if prev_url is None and page.has_previous and not self.cursor:
                prev_url = base if self.page == 2 else replace_query_param(base, self.page_query_param, self.page - 1)
            return Response(OrderedDict([("next", next_url), ("previous", prev_url), ("results", data)]))
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
                "next": {"type": "string", "nullable": True, "format": "uri",
                         "description": "The next page: a link carrying a 'cursor'."},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "cursor", "required": False, "in": "query", "schema": {"type": "string"},
             "description": "Opaque position from a 'next' or 'previous' link (keyset pagination)."},
            {"name": "page", "required": False, "in": "query", "schema": {"type": "integer", "minimum": 1},
             "description": f"Page number, for pages within the first {MAX_PAGE_DEPTH_ROWS:,} rows."},
            {"name": "page_size", "required": False, "in": "query", "schema": {"type": "integer", "minimum": 1},
             "description": f"Rows a page (default {self.page_size}), capped at {self.max_page_size}."},
        ]


def _offset_page(queryset, keys, offset: int, size: int) -> KeysetPage:
    """``page=N``: a bounded OFFSET, returned as a keyset page so that ``next`` carries a cursor."""
    rows = list(queryset[offset: offset + size + 1])
    return KeysetPage(rows[:size], keys, has_next=len(rows) > size, has_previous=True)
