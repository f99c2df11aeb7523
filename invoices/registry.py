"""Registers the payment extension case type with the queues, case pages and API (imported from
``InvoicesConfig.ready``)."""

from __future__ import annotations

from typing import Any

import django_tables2 as tables

from backoffice.cases.registry import CaseTypeSpec, register
from backoffice.cases.transitions import Transition, run_transition
from backoffice.web.tables import SelectColumn

from .filters import ExtensionFilter
from .models import EXTENSION_OPEN_STATES, ExtensionState, PaymentExtension
from .policy import approvable_by
from .selectors import extension_list
from .services import (
    extension_approve,
    extension_cancel,
    extension_fulfil,
    extension_mark_broken,
    extension_reject,
)


class ExtensionTable(tables.Table):
    ids = SelectColumn()
    reference = tables.Column(linkify=True, verbose_name="Reference")
    # Sortable only by the case's own dates and reference (keyset order); joined columns are not.
    state = tables.Column(verbose_name="State", orderable=False)
    invoice = tables.Column(accessor="invoice__number", verbose_name="Invoice", orderable=False)
    customer = tables.Column(accessor="invoice__customer__name", verbose_name="Customer", orderable=False)
    original_due = tables.DateTimeColumn(accessor="original_due_at", format="Y-m-d", verbose_name="Original due")
    new_due_date = tables.DateColumn(format="Y-m-d", verbose_name="New due")
    days_requested = tables.Column(verbose_name="Days", orderable=False)
    requester = tables.Column(accessor="requester__username", verbose_name="Requester", orderable=False)
    broken_promise = tables.BooleanColumn(accessor="customer_broke_promise_recently", verbose_name="Broke a promise",
                                          yesno="yes,—", orderable=False)

    class Meta:
        order_by = "new_due_date"
        attrs = {"class": "table extensions"}
        row_attrs = {"data-reference": lambda record: record.reference, "data-row": lambda record: record.pk}


_PEOPLE = {"approve": extension_approve, "reject": extension_reject, "cancel": extension_cancel}
_SYSTEM = {"fulfil": extension_fulfil, "mark_broken": extension_mark_broken}


def extension_transition(*, case_id: int, name: str, actor: Any, reason: str = "", data: dict | None = None):
    """The dispatcher the API and the pages call: every transition goes through its service."""
    expected_state = (data or {}).get("expected_state") or None
    if name in _PEOPLE:
        return _PEOPLE[name](extension_id=case_id, actor=actor, reason=reason, expected_state=expected_state)
    if name in _SYSTEM:
        # System transitions refuse people (403) in the transition service's permission check.
        return _SYSTEM[name](extension_id=case_id, actor=actor, expected_state=expected_state)
    # Unknown names get the same ``unknown_transition`` refusal as every case type.
    return run_transition(Transition(model=PaymentExtension, name=name), pk=case_id, actor=actor, reason=reason,
                          expected_state=expected_state)


register(CaseTypeSpec(
    key="extensions",
    label="Extensions",
    model=PaymentExtension,
    queryset=lambda user: extension_list(user=user),
    filterset_class=ExtensionFilter,
    table_class=ExtensionTable,
    transition=extension_transition,
    detail_url_name="extensions:detail",
    open_states=tuple(EXTENSION_OPEN_STATES),
    final_states=(ExtensionState.REJECTED, ExtensionState.CANCELLED, ExtensionState.FULFILLED, ExtensionState.BROKEN),
    queue_filters={"approvals": approvable_by},
    due_field="due_at",
))
