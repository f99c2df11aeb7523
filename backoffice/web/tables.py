"""Columns the queue tables share."""

from __future__ import annotations

import django_tables2 as tables
from django.utils.html import format_html


class SelectColumn(tables.CheckBoxColumn):
    """The bulk-selection column (named ``ids``): every checkbox has a label naming its case."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("accessor", "pk")
        kwargs.setdefault("attrs", {"th__input": {"aria-label": "Select all cases on this page"}})
        kwargs.setdefault("orderable", False)
        super().__init__(*args, **kwargs)

    def render(self, value, bound_column, record):
        reference = getattr(record, "reference", "") or f"case {value}"
        return format_html('<input type="checkbox" name="{}" value="{}" aria-label="Select {}">',
                           bound_column.name, value, reference)
