"""The test case type's transitions, described once (as a workflow app declares its own)."""

from backoffice.cases.transitions import Transition

from .models import Ticket

START, FINISH, CANCEL, AUTO_CLOSE = (
    Transition(model=Ticket, name=name) for name in ("start", "finish", "cancel", "auto_close")
)


def ticket_step(name: str) -> Transition:
    """The description of ``name`` (any name: an unknown one is refused when it runs, as in the dispatchers)."""
    return next((spec for spec in (START, FINISH, CANCEL, AUTO_CLOSE) if spec.name == name),
                Transition(model=Ticket, name=name))
