"""Registers disputes with the queue pages, case pages and API (``backoffice.cases.registry``)."""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils.html import format_html

from backoffice.cases.registry import CaseTypeSpec, register
from backoffice.web.tables import SelectColumn
from backoffice.web.templatetags.ui import money_text, when_text

from . import policy
from .filters import DisputeFilter
from .models import OPEN_STATES, RESOLVED_STATES, AcceptanceProposal, Dispute, DisputeState
from .selectors import dispute_list
from .services import dispute_transition
from .templatetags.dispute_tags import due_css_class, time_left_text


class DisputeTable(tables.Table):
    ids = SelectColumn()
    reference = tables.Column(verbose_name="Reference", order_by=("id",))
    state = tables.Column(orderable=False)
    stage = tables.Column(orderable=False)
    network = tables.Column(orderable=False)
    reason = tables.Column(accessor="reason_code", verbose_name="Reason", orderable=False)
    amount = tables.Column(accessor="amount_minor", verbose_name="Amount", order_by=("amount_minor",),
                           attrs={"td": {"class": "num"}, "th": {"class": "num"}})
    customer = tables.Column(accessor="payment__customer__name", verbose_name="Customer", orderable=False)
    assignee = tables.Column(accessor="assignee__username", verbose_name="Assignee", orderable=False,
                             default="—")
    internal_due_at = tables.Column(verbose_name="Internal due", order_by=("internal_due_at", "id"))

    class Meta:
        model = Dispute
        fields = ["ids", "reference", "state", "stage", "network", "reason", "amount", "customer", "assignee",
                  "internal_due_at"]
        order_by = "internal_due_at"
        attrs = {"class": "table", "data-case-type": "disputes"}
        row_attrs = {"data-id": lambda record: record.pk, "data-state": lambda record: record.state,
                     "data-row": lambda record: record.pk, "data-reference": lambda record: record.reference}

    def render_reference(self, record: Dispute):
        return format_html('<a href="{}">{}</a>', reverse("disputes:detail", args=[record.pk]), record.reference)

    def render_state(self, record: Dispute):
        return format_html('<span class="state state-{}">{}</span>', record.state, record.get_state_display())

    def render_stage(self, record: Dispute):
        return record.get_stage_display()

    def render_network(self, record: Dispute):
        return record.get_network_display()

    def render_reason(self, record: Dispute):
        code = record.reason_code
        return format_html('{} <span class="muted">· {}</span>', code.code, code.get_category_display())

    def render_amount(self, record: Dispute):
        return money_text(record.amount_minor, record.currency)

    def render_internal_due_at(self, record: Dispute):
        active = record.state in OPEN_STATES
        css = due_css_class(record.internal_due_at) if active else ""
        return format_html('<span class="{}" title="{}">{}</span>', css, when_text(record.internal_due_at),
                           time_left_text(record.internal_due_at) if active
                           else when_text(record.internal_due_at, with_time=False))


def disputes_awaiting_lead(queryset, user):
    """The approvals queue: disputes a specialist proposed to accept, for team leads to decide."""
    if not policy.allows("decide", user):
        return queryset.none()
    proposals = AcceptanceProposal.objects.filter(dispute_id=OuterRef("pk"), decision=AcceptanceProposal.Decision.OPEN)
    return queryset.filter(Exists(proposals), state=DisputeState.NEEDS_RESPONSE)


def _attach_as_evidence(*, case: Dispute, actor: Any, upload: Any, data: Any) -> str:
    """One upload path for disputes: every file on the dispute page is evidence, so it reaches the packet."""
    from .services import evidence_add

    evidence_add(dispute_id=case.pk, actor=actor, kind=data.get("kind") or "other", text=data.get("text", ""),
                 upload=upload)
    return f"Added {upload.name} as evidence."


SPEC = register(CaseTypeSpec(
    key="disputes",
    label="Disputes",
    model=Dispute,
    queryset=lambda user: dispute_list(user=user),
    filterset_class=DisputeFilter,
    table_class=DisputeTable,
    transition=dispute_transition,
    detail_url_name="disputes:detail",
    attach=_attach_as_evidence,
    open_states=tuple(OPEN_STATES),
    final_states=tuple(RESOLVED_STATES),
    queue_filters={"approvals": disputes_awaiting_lead},
    psp_id_lookups=("psp_dispute_id__startswith",),  # a prefix index on the PSP id
))
