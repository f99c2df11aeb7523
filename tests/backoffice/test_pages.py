"""Login, navigation per role, the queue and case page frameworks, the audit page and export."""

import csv
import html
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from backoffice.cases.models import Comment
from backoffice.journal.models import JournalEntry
from tests.backoffice.factories import make_ticket
from tests.testapp.models import Ticket


def nav_links(html: str) -> set[str]:
    import re

    return set(re.findall(r'data-nav="([a-z-]+)"', html))


@pytest.mark.django_db
def test_login_page_and_login(client, specialist):
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "spec1", "password": "pw"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/")["Location"] == "/queues/due-soon/"  # a specialist starts with what is due soon
    bad = client.post("/accounts/login/", {"username": "spec1", "password": "nope"})
    assert "didn't match" in bad.content.decode()


@pytest.mark.django_db
def test_pages_need_login(client):
    response = client.get("/queues/mine/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
@pytest.mark.parametrize("who,expected,absent", [
    ("specialist", {"mine", "unassigned", "due-soon", "overdue", "all", "api"}, {"approvals", "audit", "admin"}),
    ("lead", {"mine", "unassigned", "approvals", "all", "audit", "api"}, {"admin"}),
    ("auditor", {"due-soon", "overdue", "all", "audit", "api"}, {"mine", "unassigned", "approvals", "admin"}),
    ("superuser_lead", {"approvals", "audit", "admin"}, set()),
])
def test_navigation_follows_the_role(client, request, who, expected, absent):
    user = request.getfixturevalue(who)
    client.force_login(user)
    html = client.get("/queues/all/").content.decode()
    links = nav_links(html)
    assert expected <= links
    assert not (absent & links)


@pytest.mark.django_db
def test_queue_lists_cases_filters_and_paginates_without_count(client, specialist, django_assert_max_num_queries):
    for i in range(30):
        make_ticket(requester=specialist, title=f"ticket {i:02d}")
    make_ticket(requester=specialist, title="finished one")
    client.force_login(specialist)
    with django_assert_max_num_queries(12):
        page1 = client.get("/queues/all/?type=tickets").content.decode()
    assert "ticket 00" in page1 and "ticket 29" not in page1
    next_link = re.search(r'href="(\?[^"]*cursor=[^"]*)"[^>]*data-page="next"', page1)
    assert next_link, "page 1 links to the next page by cursor"
    page2 = client.get("/queues/all/" + html.unescape(next_link.group(1))).content.decode()
    assert "ticket 29" in page2 or "finished one" in page2
    assert "ticket 00" not in page2
    filtered = client.get("/queues/all/?type=tickets&state=cancelled").content.decode()
    assert "ticket 00" not in filtered


@pytest.mark.django_db
def test_mine_and_unassigned_queues(client, specialist):
    mine = make_ticket(requester=specialist, title="mine-one", assignee=specialist)
    make_ticket(requester=specialist, title="nobody-one")
    client.force_login(specialist)
    assert "mine-one" in client.get("/queues/mine/?type=tickets").content.decode()
    unassigned = client.get("/queues/unassigned/?type=tickets").content.decode()
    assert "nobody-one" in unassigned and "mine-one" not in unassigned
    assert mine.reference in client.get("/queues/mine/?type=tickets").content.decode()


@pytest.mark.django_db
def test_unknown_queue_is_404(client, specialist):
    client.force_login(specialist)
    assert client.get("/queues/nonsense/").status_code == 404


@pytest.mark.django_db
def test_bulk_claim(client, specialist):
    tickets = [make_ticket(requester=specialist, title=f"b{i}") for i in range(3)]
    client.force_login(specialist)
    response = client.post("/queues/unassigned/bulk/", {"type": "tickets", "action": "claim",
                                                         "ids": [t.pk for t in tickets]})
    assert response.status_code == 302
    assert Ticket.objects.filter(assignee=specialist).count() == 3


@pytest.mark.django_db
def test_case_page_shows_timeline_and_only_allowed_buttons(client, specialist, lead):
    ticket = make_ticket(requester=specialist)
    client.force_login(specialist)
    client.post(f"/cases/tickets/{ticket.pk}/comment/", {"body": "Called the customer"})
    html = client.get(f"/tickets/{ticket.pk}/").content.decode()
    assert ticket.reference in html and "Called the customer" in html
    assert 'data-transition="start"' in html and 'data-transition="finish"' not in html


@pytest.mark.django_db
def test_transition_from_the_page_and_refusal_message(client, specialist):
    ticket = make_ticket(requester=specialist)
    client.force_login(specialist)
    ok = client.post(f"/cases/tickets/{ticket.pk}/transition/start/", {"reason": "go", "expected_state": "open"},
                     follow=True)
    assert "Done: start." in ok.content.decode()
    again = client.post(f"/cases/tickets/{ticket.pk}/transition/start/", {"reason": "go"}, follow=True)
    assert "transition_not_allowed" in again.content.decode()
    assert Ticket.objects.get(pk=ticket.pk).state == "working"


@pytest.mark.django_db
def test_auditor_gets_403_on_every_page_write(client, auditor, specialist):
    ticket = make_ticket(requester=specialist)
    client.force_login(auditor)
    assert client.get(f"/tickets/{ticket.pk}/").status_code == 200
    for path, data in [
        (f"/cases/tickets/{ticket.pk}/transition/start/", {}),
        (f"/cases/tickets/{ticket.pk}/claim/", {}),
        (f"/cases/tickets/{ticket.pk}/assign/", {"assignee": str(auditor.pk)}),
        (f"/cases/tickets/{ticket.pk}/comment/", {"body": "x"}),
        (f"/cases/tickets/{ticket.pk}/attach/", {"file": SimpleUploadedFile("a.txt", b"hello")}),
        ("/queues/all/bulk/", {"type": "tickets", "action": "claim", "ids": [ticket.pk]}),
    ]:
        assert client.post(path, data).status_code == 403, path
    assert Comment.objects.count() == 0
    assert JournalEntry.objects.filter(case_id=ticket.pk).count() == 1


@pytest.mark.django_db
def test_audit_page_search_verify_and_csv_export(client, auditor, specialist):
    ticket = make_ticket(requester=specialist)
    client.force_login(specialist)
    assert client.get("/audit/").status_code == 403
    client.force_login(auditor)
    html = client.get(f"/audit/?q={ticket.reference}&verify=1").content.decode()
    assert ticket.reference in html and 'data-chain="intact"' in html
    export = client.get("/audit/export.csv?case_type=ticket")
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[0][:3] == ["created_at", "case_type", "case_reference"]
    assert rows[1][1:3] == ["ticket", ticket.reference] and len(rows) == 2
