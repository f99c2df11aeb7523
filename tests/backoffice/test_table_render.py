"""The queue tables are built in Python (``backoffice.web.tables.render_table_html``) rather than through
django-tables2's template, which cost more than the page's SQL. The markup must be the one django-tables2
itself renders — cells, links, sort links keeping the query, row attributes, empty text — for every case
type, or the pages, the bulk form and the browser tests would silently change."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.template import RequestContext, Template
from django.test import RequestFactory
from django.utils import timezone

from backoffice.cases.registry import case_types
from backoffice.web.tables import render_table_html
from invoices.services import extension_request
from tests.backoffice.factories import make_ticket
from tests.disputes.factories import DisputeFactory
from tests.invoices.factories import InvoiceFactory
from tests.reconciliation.test_services import make_break
from tests.refunds.factories import RefundFactory


def _normalised(html: str) -> str:
    html = re.sub(r"\s+<", "<", re.sub(r">\s+", ">", html.strip()))
    return re.sub(r"\s+>", ">", re.sub(r"\s+", " ", html))


def _both(spec, rows, request) -> tuple[str, str]:
    theirs = Template("{% load django_tables2 %}{% render_table table %}").render(
        RequestContext(request, {"table": spec.table_class(rows, order_by=())}))
    ours = render_table_html(spec.table_class(rows, order_by=()), request)
    return _normalised(theirs), _normalised(ours)


@pytest.fixture
def cases(lead, specialist):
    DisputeFactory(assignee=specialist)
    DisputeFactory(assignee=None, amount_minor=123456, currency="EUR")
    RefundFactory()
    extension_request(actor=specialist, invoice=InvoiceFactory(), reason="Salary arrives on Friday",
                      new_due_date=(timezone.now() + timedelta(days=60)).date())
    make_break()
    make_ticket(requester=specialist)


@pytest.mark.django_db
def test_every_case_type_renders_the_markup_django_tables2_renders(cases, lead):
    request = RequestFactory().get("/queues/all/", {"type": "x", "state": ["a", "b"], "q": "<b>&"})
    request.user = lead
    checked = 0
    for spec in case_types():
        queryset = spec.queue("all", lead)
        if queryset is None:
            continue
        rows = list(queryset.order_by("-pk")[:25])
        assert rows, f"no {spec.key} to render"
        theirs, ours = _both(spec, rows, request)
        assert ours == theirs, spec.key
        assert "<tbody" in ours and ours.count("<tr") == len(rows) + 1
        checked += 1
    assert checked == len(case_types())


@pytest.mark.django_db
def test_an_empty_queue_shows_the_tables_empty_text_the_same_way(lead):
    request = RequestFactory().get("/queues/all/")
    request.user = lead
    for spec in case_types():
        theirs, ours = _both(spec, [], request)
        assert ours == theirs, spec.key
