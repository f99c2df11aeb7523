"""Every queue page and API list costs the same fixed number of queries with 5 rows or 50, never a COUNT,
never a query per row; and keyset pages (cursor links) walk the whole list without gaps or repeats.

Not timed: speed is measured by ``make bench`` (docs/PERFORMANCE.md)."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from invoices.services import extension_request
from tests.disputes.factories import DisputeFactory
from tests.invoices.factories import InvoiceFactory
from tests.refunds.factories import RefundFactory

pytestmark = pytest.mark.django_db

QUEUES = [
    (queue, type_key)
    for type_key in ("disputes", "refunds", "extensions")
    for queue in ("all", "mine", "unassigned", "due-soon", "overdue", "approvals")
    if not (queue == "approvals" and type_key == "disputes")
]
API_LISTS = ["disputes", "refunds", "extensions", "payments", "invoices", "customers", "audit/transitions"]


def _make_rows(n: int, *, specialist, start: int = 0) -> None:
    soon = timezone.now() + timedelta(hours=30)
    for i in range(start, start + n):
        # Half assigned to the specialist, half unassigned; due soon or overdue, so every queue has rows.
        due = soon if i % 2 else timezone.now() - timedelta(hours=5)
        DisputeFactory(assignee=specialist if i % 2 else None, due_at=due + timedelta(hours=48),
                       internal_due_at=due)
        RefundFactory(amount_minor=1000 + i, assignee=specialist if i % 2 else None)
        invoice = InvoiceFactory(due_at=timezone.now() + timedelta(days=1 + i % 3))
        extension_request(actor=specialist, invoice=invoice,
                          new_due_date=(invoice.due_at + timedelta(days=5 + i % 4)).date(), reason="salary late")


def _queries(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
    return [q["sql"] for q in ctx.captured_queries]


def _assert_no_count(url: str, queries: list[str]) -> None:
    counts = [q for q in queries if re.search(r"\bCOUNT\(", q, re.IGNORECASE)]
    assert not counts, f"{url} counts rows: {counts[0][:200]}"


def test_queue_pages_cost_a_fixed_number_of_queries_and_never_count(client, lead, specialist):
    _make_rows(5, specialist=specialist)
    cases = [(f"/queues/{q}/?type={t}", lead if q != "mine" else specialist) for q, t in QUEUES]
    few = {}
    for url, user in cases:
        client.force_login(user)
        queries = _queries(client, url)
        _assert_no_count(url, queries)
        few[url] = len(queries)
    _make_rows(45, specialist=specialist, start=5)
    for url, user in cases:
        client.force_login(user)
        queries = _queries(client, url)
        _assert_no_count(url, queries)
        assert len(queries) == few[url], f"{url}: {few[url]} queries with 5 rows, {len(queries)} with 50"
        assert len(queries) <= 14, f"{url}: {len(queries)} queries"


def test_api_lists_cost_a_fixed_number_of_queries_and_never_count(api, lead, auditor, specialist):
    _make_rows(5, specialist=specialist)
    lists = [(f"/api/v1/{name}/", auditor if name.startswith("audit") else lead) for name in API_LISTS]
    few = {}
    for url, user in lists:
        client = api(user)
        queries = _queries(client, url)
        _assert_no_count(url, queries)
        few[url] = len(queries)
    _make_rows(45, specialist=specialist, start=5)
    for url, user in lists:
        client = api(user)
        queries = _queries(client, url)
        _assert_no_count(url, queries)
        assert len(queries) == few[url], f"{url}: {few[url]} queries with 5 rows, {len(queries)} with 50"
        assert len(queries) <= 8, f"{url}: {len(queries)} queries"


def test_api_cursor_walks_every_row_once_and_page_stays_bounded(api, lead, specialist):
    _make_rows(12, specialist=specialist)
    client = api(lead)
    seen: list[str] = []
    url = "/api/v1/disputes/?page_size=5"
    pages = 0
    while url:
        body = client.get(url).json()
        seen += [row["reference"] for row in body["results"]]
        url = body["next"]
        pages += 1
        if url:
            assert "cursor=" in url and "page=" not in url.replace("page_size", "")
    assert pages == 3 and len(seen) == 12 and len(set(seen)) == 12
    # Back from the last page with "previous": the rows before it, in the same order.
    last = client.get("/api/v1/disputes/?page_size=5&page=3").json()
    assert [r["reference"] for r in last["results"]] == seen[10:]
    previous = client.get(last["previous"]).json()
    assert [r["reference"] for r in previous["results"]] == seen[5:10]
    # page= keeps working near the top and is refused (400, a stable code) too deep.
    assert client.get("/api/v1/disputes/?page=2&page_size=5").json()["results"][0]["reference"] == seen[5]
    deep = client.get("/api/v1/disputes/?page=100000")
    assert deep.status_code == 400 and deep.json()["code"] == "page_too_deep"
    broken = client.get("/api/v1/disputes/?cursor=not-a-cursor")
    assert broken.status_code == 400 and broken.json()["code"] == "invalid_cursor"


def test_queue_next_links_walk_every_case_once(client, lead, specialist):
    _make_rows(30, specialist=specialist)
    client.force_login(lead)
    url = "/queues/all/?type=disputes"
    seen: list[str] = []
    while url:
        html = client.get(url).content.decode()
        seen += re.findall(r">(DSP-\d{6})</a>", html)
        link = re.search(r'href="(\?[^"]*)"[^>]*data-page="next"', html)
        url = "/queues/all/" + unescape(link.group(1)) if link else None
    assert len(seen) == 30 and len(set(seen)) == 30
    # Sorting by due date descending walks the same cases in the opposite order.
    url, backwards = "/queues/all/?type=disputes&sort=-internal_due_at", []
    while url:
        html = client.get(url).content.decode()
        backwards += re.findall(r">(DSP-\d{6})</a>", html)
        link = re.search(r'href="(\?[^"]*)"[^>]*data-page="next"', html)
        url = "/queues/all/" + unescape(link.group(1)) if link else None
    assert backwards == list(reversed(seen)), (seen, backwards)
