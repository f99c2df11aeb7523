"""Registers refunds with the queue and case-page framework (imported from ``AppConfig.ready``)."""

from backoffice.cases.registry import CaseTypeSpec, register

from .filters import RefundFilter
from .models import OPEN_STATES, Refund, RefundState
from .selectors import refund_list, refunds_awaiting_decision_by, refunds_with_queue_facts
from .services import refund_transition
from .tables import RefundTable

register(CaseTypeSpec(
    key="refunds",
    label="Refunds",
    model=Refund,
    queryset=lambda user: refunds_with_queue_facts(refund_list(user=user)),
    filterset_class=RefundFilter,
    table_class=RefundTable,
    transition=refund_transition,
    detail_url_name="refunds:detail",
    open_states=tuple(OPEN_STATES),
    final_states=(RefundState.SUCCEEDED, RefundState.REJECTED, RefundState.CANCELLED),
    queue_filters={"approvals": refunds_awaiting_decision_by},
    psp_id_lookups=("psp_refund_id",),  # exact: a unique index
))
