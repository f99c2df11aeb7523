from django.db import transaction

from backoffice.cases.services import case_assign_reference, case_journal_created
from tests.testapp.models import Ticket


def make_ticket(*, requester=None, title="Printer on fire", actor=None, **fields) -> Ticket:
    """What a create service does: insert, give a reference, journal the first row, in one transaction."""
    with transaction.atomic():
        ticket = Ticket.objects.create(title=title, requester=requester, **fields)
        case_assign_reference(case=ticket)
        case_journal_created(case=ticket, actor=actor or requester)
    return ticket
