"""Columns the queue tables share."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import django_tables2 as tables
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.formats import localize
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django_tables2.utils import Accessor, AttributeDict


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


# ---------------------------------------------------------------- rendering

CELL_ARGUMENTS = ("value", "record", "column", "bound_column", "bound_row", "table")


def _cell_renderer(table: tables.Table, bound_column: Any) -> Callable[[Any, Any, Any], Any]:
    """How one column turns (record, value, row) into its cell, worked out once per column.

    django-tables2 inspects each render method's signature for every cell (a tenth of the page's time on a
    queue of 25 rows); here it is read once, and the same arguments are passed.
    """
    render = bound_column.render
    parameters = inspect.signature(render).parameters
    takes_all = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    wanted = CELL_ARGUMENTS if takes_all else tuple(name for name in parameters if name in CELL_ARGUMENTS)
    if not takes_all and any(name not in CELL_ARGUMENTS for name, p in parameters.items()
                             if p.default is inspect.Parameter.empty and p.kind is not p.VAR_POSITIONAL):
        return lambda record, value, row: None  # as django-tables2 does: a render it cannot call gives None
    column = bound_column.column
    link = bound_column.link  # ``linkify=``: the content wrapped in a link to the record

    def cell(record: Any, value: Any, row: Any) -> Any:
        available = {"value": value, "record": record, "column": column, "bound_column": bound_column,
                     "bound_row": row, "table": table}
        content = render(**{name: available[name] for name in wanted})
        return link(content, **available) if link else content

    return cell


def _cell_value(record: Any, accessor: Accessor) -> Any:
    """The accessor's value, with a choice field's display text (what django-tables2 shows by default)."""
    penultimate, remainder = accessor.penultimate(record)
    if isinstance(penultimate, models.Model) and remainder:
        try:
            field = accessor.get_field(record)
        except FieldDoesNotExist:
            field = None
        display = getattr(penultimate, f"get_{remainder}_display", None)
        if field is not None and getattr(field, "choices", ()) and display:
            return display()
    try:
        return accessor.resolve(record)
    except Exception:  # noqa: BLE001 - a missing related row shows the column's default, as django-tables2 does
        return None


def _row_attrs_renderer(table: tables.Table) -> Callable[[Any, int], str] | None:
    """The rows' attributes (``Meta.row_attrs``: values or callables of the record), signatures read once, with the
    even/odd class django-tables2 adds. None when an attribute is nested (django-tables2 then computes them)."""
    plan = []
    for key, value in table.row_attrs.items():
        if isinstance(value, dict):
            return None
        if callable(value):
            names = tuple(inspect.signature(value).parameters)
            if any(name not in ("record", "table") for name in names):
                return None
            plan.append((key, value, names))
        else:
            plan.append((key, value, None))

    def attrs(record: Any, index: int) -> str:
        out = AttributeDict()
        for key, value, names in plan:
            out[key] = value(**{name: record if name == "record" else table for name in names}) \
                if names is not None else value
        parity = "odd" if index % 2 else "even"
        out["class"] = f"{out['class']} {parity}" if out.get("class") else parity
        return out.as_html()

    return attrs


def render_table_html(table: tables.Table, request: Any) -> SafeString:
    """The table as django-tables2's default template lays it out (same markup, attributes, sort links and
    empty text), built in Python: the template engine cost more than the page's SQL on every queue page
    (docs/PERFORMANCE.md). Column header and cell attributes are computed once per column, so they must not
    depend on the row (none of the queue tables' do; ``tests/backoffice/test_table_render.py`` checks the
    markup against django-tables2's own rendering for every case type)."""
    columns = list(table.columns)
    query = dict(request.GET) if request is not None else {}
    heads, plans = [], []
    for column in columns:
        header = column.header
        if column.orderable:
            params = {**query, table.prefixed_order_by_field: column.order_by_alias.next}
            header = format_html('<a href="{}">{}</a>', "?" + urlencode(params, doseq=True), header)
        attrs = column.attrs
        heads.append(f"<th {attrs['th'].as_html()}>{conditional_escape(header)}</th>")
        plans.append((Accessor(column.accessor), column.column.empty_values, column.default,
                      _cell_renderer(table, column), f"<td {attrs['td'].as_html()}>", column.localize))
    body = []
    row_attrs = _row_attrs_renderer(table)
    for index, row in enumerate(table.rows):
        record = row.record
        cells = []
        for accessor, empty_values, default, render, td, localized in plans:
            value = _cell_value(record, accessor)
            content = default if value in empty_values else render(record, value, row)
            # ``{{ cell }}`` localizes, as ``localize=True`` does; ``localize=False`` is ``|unlocalize``.
            content = localize(content, use_l10n=localized is not False)
            cells.append(f"{td}{conditional_escape(content)}</td>")
        body.append(f"<tr {row_attrs(record, index) if row_attrs else row.attrs.as_html()}>{''.join(cells)}</tr>")
    if not body and table.empty_text:
        body.append(f'<tr><td colspan="{len(columns)}">{conditional_escape(table.empty_text)}</td></tr>')
    return mark_safe(  # noqa: S308 - every piece above is escaped or built by format_html
        f'<div class="table-container"><table {table.attrs.as_html()}>'
        f"<thead {table.attrs['thead'].as_html()}><tr>{''.join(heads)}</tr></thead>"
        f"<tbody {table.attrs['tbody'].as_html()}>{''.join(body)}</tbody>"
        "</table></div>")
