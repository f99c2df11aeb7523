"""Keyset pages over an ordering whose first key can be NULL: every row once, in order, both ways."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from backoffice.errors import InvalidInput
from backoffice.pagination import decode_cursor, keyset_page, ordering_of
from tests.backoffice.factories import make_ticket
from tests.testapp.models import Ticket

pytestmark = pytest.mark.django_db


def _walk(qs, keys, size):
    cursor, seen, pages = None, [], []
    while True:
        page = keyset_page(qs, keys=keys, cursor=cursor, size=size)
        pages.append(page)
        seen += [t.pk for t in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            return seen, pages


@pytest.mark.parametrize("order", [("internal_due_at", "id"), ("-internal_due_at", "-id")])
def test_keyset_walks_values_and_nulls_once_forwards_and_back(specialist, order):
    now = timezone.now()
    for i in range(11):
        # Some share a due date (ties broken by id), some have none (NULLs last ascending, first descending).
        due = None if i % 4 == 0 else now + timedelta(hours=i // 2)
        make_ticket(requester=specialist, title=f"t{i}", internal_due_at=due)
    qs = Ticket.objects.order_by(*order)
    keys = ordering_of(qs)
    expected = list(qs.values_list("pk", flat=True))
    seen, pages = _walk(qs, keys, size=3)
    assert seen == expected
    # Back from the last page by "previous" links: the same pages in reverse.
    back, cursor = [], pages[-1].previous_cursor
    while cursor:
        page = keyset_page(qs, keys=keys, cursor=cursor, size=3)
        back = [t.pk for t in page.rows] + back
        cursor = page.previous_cursor
    assert back + [t.pk for t in pages[-1].rows] == expected
    # A bounded jump lands where counting would.
    jumped = keyset_page(qs, keys=keys, cursor=pages[0].next_cursor, size=3, skip=3)
    assert [t.pk for t in jumped.rows] == expected[6:9]


def test_a_cursor_from_another_order_or_damaged_is_invalid_input(specialist):
    make_ticket(requester=specialist, title="a")
    make_ticket(requester=specialist, title="b")
    by_id = Ticket.objects.order_by("id")
    cursor = keyset_page(by_id, keys=ordering_of(by_id), cursor=None, size=1).next_cursor
    other = ordering_of(Ticket.objects.order_by("-internal_due_at"))
    with pytest.raises(InvalidInput):
        decode_cursor(cursor, other)
    with pytest.raises(InvalidInput):
        decode_cursor("%%%", ordering_of(by_id))
