"""The breaks queue table (django-tables2)."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from backoffice.web.tables import SelectColumn
from backoffice.web.templatetags.ui import money_text, when_text

from .models import Break


class BreakTable(tables.Table):
    ids = SelectColumn()
    reference = tables.Column(verbose_name="Reference", order_by=("id",))
    state = tables.Column(verbose_name="State", orderable=False)
    kind = tables.Column(verbose_name="Type", orderable=False)
    psp = tables.Column(verbose_name="PSP", orderable=False)
    psp_reference = tables.Column(verbose_name="PSP reference", orderable=False)
    amount = tables.Column(accessor="amount_minor", verbose_name="Amount", order_by=("amount_minor",),
                           attrs={"td": {"class": "num"}, "th": {"class": "num"}})
    age = tables.Column(accessor="created_at", verbose_name="Age", order_by=("created_at", "id"))
    due = tables.Column(accessor="internal_due_at", verbose_name="Due", order_by=("internal_due_at", "id"))
    assignee = tables.Column(accessor="assignee__username", verbose_name="Assignee", default="—", orderable=False)

    class Meta:
        model = Break
        fields = ["ids", "reference", "state", "kind", "psp", "psp_reference", "amount", "age", "due", "assignee"]
        sequence = fields
        order_by = "due"
        attrs = {"class": "queue-table", "data-case-type": "breaks"}
        row_attrs = {"data-reference": lambda record: record.reference, "data-row": lambda record: record.pk}

    def render_reference(self, record: Break, value: str):
        return format_html('<a href="{}">{}</a>', reverse("reconciliation:detail", args=[record.pk]), value)

    def render_state(self, record: Break):
        return format_html('<span class="state state-{}" data-state="{}">{}</span>', record.state, record.state,
                           record.get_state_display())

    def render_kind(self, record: Break):
        return format_html('<span data-kind="{}">{}</span>', record.kind, record.get_kind_display())

    def render_psp(self, record: Break):
        return record.get_psp_display()

    def render_psp_reference(self, value: str):
        return format_html("<code>{}</code>", value)

    def render_amount(self, record: Break):
        return format_html('{} <span class="muted">{}</span>', money_text(record.amount_minor, record.currency),
                           record.currency)

    def render_age(self, record: Break):
        days = record.age_days
        return format_html('<span data-age-days="{}">{} day{}</span>', days, days, "" if days == 1 else "s")

    def render_due(self, record: Break):
        return when_text(record.internal_due_at)
