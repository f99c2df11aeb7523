"""Registers breaks with the queue, case-page and API framework (imported from ``AppConfig.ready``)."""

from backoffice.cases.registry import CaseTypeSpec, register

from .dashboard import sections
from .filters import BreakFilter
from .models import OPEN_STATES, Break, BreakState
from .selectors import break_list, breaks_awaiting_write_off_decision_by
from .services import break_transition
from .tables import BreakTable

register(CaseTypeSpec(
    key="breaks",
    label="Breaks",
    model=Break,
    queryset=lambda user: break_list(user=user),
    filterset_class=BreakFilter,
    table_class=BreakTable,
    transition=break_transition,
    detail_url_name="reconciliation:detail",
    open_states=tuple(OPEN_STATES),
    final_states=(BreakState.RESOLVED, BreakState.WRITTEN_OFF, BreakState.AUTO_RESOLVED),
    queue_filters={"approvals": breaks_awaiting_write_off_decision_by},
    dashboard_sections=sections,
    psp_id_lookups=("psp_reference",),  # the charge, refund, dispute or payout id the break is about
))
