"""A minimal case type used only by the foundation's tests of the shared case machinery."""

from django.conf import settings
from django.db import models
from django_fsm import FSMField, transition

from backoffice.cases.models import Case
from backoffice.roles.predicates import is_requester, is_system, is_team_lead, is_worker


class TicketState(models.TextChoices):
    OPEN = "open"
    WORKING = "working"
    DONE = "done"
    CANCELLED = "cancelled"


def _worker(instance, user):
    return bool(is_worker(user))


def _lead(instance, user):
    return bool(is_team_lead(user))


def _requester_or_lead(instance, user):
    return bool(is_requester(user, instance) or is_team_lead(user))


def _system(instance, user):
    return bool(is_system(user))


class Ticket(Case):
    REFERENCE_PREFIX = "TKT"
    CASE_TYPE = "ticket"
    PUBLIC_TRANSITIONS = ("start", "finish", "cancel")
    SYSTEM_TRANSITIONS = ("auto_close",)

    title = models.CharField(max_length=100)
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    state = FSMField(default=TicketState.OPEN, choices=TicketState.choices, protected=True)

    @transition(field=state, source=TicketState.OPEN, target=TicketState.WORKING, permission=_worker)
    def start(self):
        pass

    @transition(field=state, source=TicketState.WORKING, target=TicketState.DONE, permission=_lead)
    def finish(self):
        pass

    @transition(field=state, source=[TicketState.OPEN, TicketState.WORKING], target=TicketState.CANCELLED,
                permission=_requester_or_lead)
    def cancel(self):
        pass

    @transition(field=state, source=TicketState.WORKING, target=TicketState.DONE, permission=_system)
    def auto_close(self):
        pass
