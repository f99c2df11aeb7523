import django_filters
import django_tables2 as tables

from backoffice.cases.registry import CaseTypeSpec, register
from backoffice.cases.transitions import Transition, run_transition

from .models import Ticket


class TicketFilter(django_filters.FilterSet):
    class Meta:
        model = Ticket
        fields = ["state"]


class TicketTable(tables.Table):
    ids = tables.CheckBoxColumn(accessor="pk")

    class Meta:
        model = Ticket
        fields = ["ids", "reference", "title", "state", "internal_due_at"]
        order_by = "internal_due_at"


def ticket_transition(*, case_id, name, actor, reason="", data=None):
    data = data or {}
    return run_transition(Transition(model=Ticket, name=name), pk=case_id, actor=actor, reason=reason,
                          expected_state=data.get("expected_state") or None)


register(CaseTypeSpec(
    key="tickets", label="Tickets", model=Ticket,
    queryset=lambda user: Ticket.objects.select_related("assignee"),
    filterset_class=TicketFilter, table_class=TicketTable, transition=ticket_transition,
    detail_url_name="ticket-page", open_states=("open", "working"),
))
