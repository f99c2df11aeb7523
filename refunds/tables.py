"""The refunds queue table (django-tables2): what a lead scans before deciding."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from backoffice.money import format_minor

from .models import Refund


class RefundTable(tables.Table):
    ids = tables.CheckBoxColumn(accessor="pk", attrs={"th__input": {"aria-label": "select all"}})
    reference = tables.Column(verbose_name="Reference", order_by=("id",))
    # Sortable only by what an index serves in keyset order (reference, created, due); the rest are not.
    state = tables.Column(verbose_name="State", orderable=False)
    amount = tables.Column(accessor="amount_minor", verbose_name="Amount", orderable=False,
                           attrs={"td": {"class": "num"}})
    currency = tables.Column(verbose_name="Currency", orderable=False)
    reason = tables.Column(verbose_name="Reason", orderable=False)
    requester = tables.Column(accessor="requester__username", verbose_name="Requester", orderable=False)
    customer = tables.Column(accessor="payment__customer__name", verbose_name="Customer", orderable=False)
    created = tables.DateTimeColumn(accessor="created_at", verbose_name="Created", format="Y-m-d H:i")
    due = tables.DateTimeColumn(accessor="internal_due_at", verbose_name="Due", format="Y-m-d H:i")
    assignee = tables.Column(accessor="assignee__username", verbose_name="Assignee", default="—", orderable=False)

    class Meta:
        model = Refund
        fields = ["ids", "reference", "state", "amount", "currency", "reason", "requester", "customer", "created",
                  "due", "assignee"]
        order_by = "-created"
        attrs = {"class": "queue-table"}
        row_attrs = {"data-reference": lambda record: record.reference}

    def render_reference(self, record: Refund, value: str):
        return format_html('<a href="{}">{}</a>', reverse("refunds:detail", args=[record.pk]), value)

    def render_state(self, record: Refund):
        return format_html('<span class="state state-{}" data-state="{}">{}</span>', record.state, record.state,
                           record.get_state_display())

    def render_amount(self, record: Refund):
        return format_minor(record.amount_minor, record.currency)

    def render_reason(self, record: Refund):
        return record.get_reason_display()
