"""Real concurrency on PostgreSQL: threads, each with its own connection, at the same report or write-off."""

from __future__ import annotations

import io

import pytest

from backoffice.journal.models import JournalEntry
from reconciliation.imports import settlement_import
from reconciliation.models import Break, SettlementImport, SettlementLine, WriteOffDecision
from reconciliation.services import break_approve_write_off
from tests.refunds.factories import make_users
from tests.refunds.test_concurrency import run_at_once

from .factories import report, scenario
from .test_services import requested

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_same_report_uploaded_five_times_at_once_is_imported_once(lead):
    s = scenario("stripe")
    content = report("stripe", s.items, payout_delta_minor=123)

    results = run_at_once(5, lambda i: settlement_import(psp="stripe", binary=io.BytesIO(content),
                                                         file_name=f"copy-{i}.csv", actor=lead, source="test"))

    assert results.count("ok") == 1, results
    assert set(results) - {"ok"} <= {"already_imported"}, results
    assert SettlementImport.objects.count() == 1
    assert SettlementLine.objects.count() == len(s.items) + 2
    assert sorted(Break.objects.values_list("kind", "amount_minor")) == sorted(s.planted)


def test_ten_leads_approving_one_write_off_at_once_write_it_off_once(specialist):
    leads = make_users("wo-racer", "team_lead", 10)
    brk = requested(by=specialist, amount_minor=50_000)

    results = run_at_once(10, lambda i: break_approve_write_off(brk=brk, actor=leads[i], reason=f"racer {i}"))

    assert results.count("ok") == 1, results
    assert set(results) - {"ok"} <= {"concurrent_change", "transition_not_allowed"}, results
    assert Break.objects.get(pk=brk.pk).state == "written_off"
    assert WriteOffDecision.objects.filter(brk=brk).count() == 1
    assert JournalEntry.objects.filter(case_type="break", case_id=brk.pk, transition="approve_write_off").count() == 1
