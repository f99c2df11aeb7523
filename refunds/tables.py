"""The refunds queue table (django-tables2): what a lead scans before deciding.

Sorted by due date by default; amounts sort within one currency (the queue page sorts by amount
only with a currency filter), never across currencies; each row says how many approvals it needs
and has, flags a possible duplicate (the same amount on the same payment within 24 hours) and
shows the customer's history.
"""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from backoffice.web.tables import SelectColumn
from backoffice.web.templatetags.ui import money_text, when_text

from .models import Refund, RefundState
from .selectors import customers_refund_history


class RefundTable(tables.Table):
    ids = SelectColumn()
    reference = tables.Column(verbose_name="Reference", order_by=("id",))
    # Sortable only by what an index serves in keyset order (reference, due, requested, and amount within one
    # currency: the queue page asks for a currency filter first); the rest are not.
    state = tables.Column(verbose_name="State", orderable=False)
    amount = tables.Column(accessor="amount_minor", verbose_name="Amount", order_by=("amount_minor",),
                           attrs={"td": {"class": "num"}, "th": {"class": "num"}})
    approvals = tables.Column(accessor="pk", verbose_name="Approvals", orderable=False)
    customer = tables.Column(accessor="payment__customer__name", verbose_name="Customer", orderable=False)
    reason = tables.Column(verbose_name="Reason", orderable=False)
    requester = tables.Column(accessor="requester__username", verbose_name="Requester", orderable=False)
    due = tables.Column(accessor="internal_due_at", verbose_name="Due", order_by=("internal_due_at", "id"))
    created = tables.Column(accessor="created_at", verbose_name="Requested", order_by=("created_at", "id"))
    assignee = tables.Column(accessor="assignee__username", verbose_name="Assignee", default="—", orderable=False)

    class Meta:
        model = Refund
        fields = ["ids", "reference", "state", "amount", "approvals", "customer", "reason", "requester", "due",
                  "created", "assignee"]
        sequence = fields
        order_by = "due"
        attrs = {"class": "queue-table", "data-case-type": "refunds"}
        row_attrs = {
            "data-reference": lambda record: record.reference,
            "data-row": lambda record: record.pk,
            "class": lambda record: "duplicate" if getattr(record, "possible_duplicate", False) else "",
        }

    def __init__(self, data, *args, **kwargs):
        super().__init__(data, *args, **kwargs)
        rows = data if isinstance(data, list) else []
        self.history = customers_refund_history(customer_ids=[r.payment.customer_id for r in rows])

    def render_reference(self, record: Refund, value: str):
        link = format_html('<a href="{}">{}</a>', reverse("refunds:detail", args=[record.pk]), value)
        if getattr(record, "possible_duplicate", False):
            return format_html('{} <span class="flag dup" data-flag="possible_duplicate" title="Another refund of '
                               'the same amount on the same payment within 24 hours">possible duplicate</span>',
                               link)
        return link

    def render_state(self, record: Refund):
        return format_html('<span class="state state-{}" data-state="{}">{}</span>', record.state, record.state,
                           record.get_state_display())

    def render_amount(self, record: Refund):
        return format_html('{} <span class="muted">{}</span>', money_text(record.amount_minor, record.currency),
                           record.currency)

    def render_approvals(self, record: Refund):
        threshold = getattr(record, "dual_threshold_minor", None)
        needed = 2 if threshold is None or record.amount_minor >= threshold else 1
        if record.state not in (RefundState.PENDING_APPROVAL, RefundState.PENDING_SECOND_APPROVAL):
            return "—"
        has = 1 if record.state == RefundState.PENDING_SECOND_APPROVAL else 0
        text = f"needs {needed} approval{'s' if needed > 1 else ''}, has {has}"
        return format_html('<span class="flag approvals" data-approvals="{}/{}">{}</span>', has, needed, text)

    def render_customer(self, record: Refund, value: str):
        facts = []
        history = self.history.get(record.payment.customer_id)
        if history is not None:
            others = max(history.refunds_recent - 1, 0)  # this refund is one of them
            more = "+" if history.capped else ""
            facts.append((f"{others}{more} other refund{'s' if others != 1 else ''} in 90 days",))
            if history.disputes:
                facts.append((f"{history.disputes}{more} dispute{'s' if history.disputes != 1 else ''}",))
        history = format_html_join(" · ", "{}", facts)
        return format_html('<a href="{}">{}</a><br><span class="muted" data-history>{}</span>',
                           reverse("customer-detail", args=[record.payment.customer_id]), value, history)

    def render_reason(self, record: Refund):
        return record.get_reason_display()

    def render_due(self, record: Refund):
        return when_text(record.internal_due_at)

    def render_created(self, record: Refund):
        return when_text(record.created_at)
