"""Importing Stripe and Adyen settlement reports: matching, planted breaks, once only, all or nothing."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from backoffice.errors import Conflict, InvalidInput, PermissionDenied
from backoffice.journal.models import JournalEntry
from reconciliation.imports import settlement_import
from reconciliation.models import RECONCILIATION, Break, LineMatch, SettlementImport, SettlementLine

from .factories import report, scenario

ROOT = Path(__file__).resolve().parents[2]
PSPS = ["stripe", "adyen"]


def run(psp: str, content: bytes, actor=RECONCILIATION, name: str = "report.csv") -> SettlementImport:
    return settlement_import(psp=psp, binary=io.BytesIO(content), file_name=name, actor=actor, source="test")


def found(job=None) -> list[tuple[str, int]]:
    qs = Break.objects.all() if job is None else Break.objects.filter(settlement_import=job)
    return sorted(qs.values_list("kind", "amount_minor"))


@pytest.mark.parametrize("psp", PSPS)
def test_every_line_matches_except_the_planted_breaks(psp, lead):
    s = scenario(psp)
    content = report(psp, s.items, payout_delta_minor=123)

    job = run(psp, content, actor=lead)

    # Each planted break found once, with its kind and amount; nothing else.
    assert found() == sorted(s.planted)
    assert job.break_count == len(s.planted)
    # The lines that carry a break are exactly the planted ones; every other charge, refund and dispute matched.
    planted_rows = 7  # missing, amount, currency, refund, dispute, duplicate, fee
    assert SettlementLine.objects.filter(settlement_import=job, match=LineMatch.BREAK).count() == planted_rows
    assert job.matched_count == 4 and job.matchable_count == 4 + planted_rows
    assert job.line_count == len(s.items) + 2  # two payouts: USD and the planted EUR line's
    unsettled = Break.objects.get(kind="not_settled")
    assert unsettled.psp_reference == s.unsettled.psp_reference and unsettled.payment_id == s.unsettled.pk
    brk = Break.objects.get(kind="amount_mismatch")
    assert (brk.expected_minor, brk.reported_minor, brk.payment_id) == (10_000, 9_900, s.payments[2].pk)
    # Every break is a journaled case with its reference.
    for brk in Break.objects.all():
        assert brk.reference == f"BRK-{brk.pk:06d}" and brk.state == "open"
        row = JournalEntry.objects.get(case_type="break", case_id=brk.pk)
        assert (row.transition, row.actor_label) == ("create", "system:reconciliation")


@pytest.mark.parametrize("psp", PSPS)
def test_the_same_file_twice_changes_nothing(psp, lead):
    s = scenario(psp)
    content = report(psp, s.items)
    run(psp, content, actor=lead)
    before = (SettlementImport.objects.count(), SettlementLine.objects.count(), found(),
              JournalEntry.objects.count())

    with pytest.raises(Conflict) as err:
        run(psp, content, actor=lead, name="again.csv")

    assert err.value.code == "already_imported"
    assert (SettlementImport.objects.count(), SettlementLine.objects.count(), found(),
            JournalEntry.objects.count()) == before


def test_another_file_of_the_same_adyen_batch_is_refused(lead):
    s = scenario("adyen")
    run("adyen", report("adyen", s.items, batch="77"), actor=lead)
    with pytest.raises(Conflict) as err:
        run("adyen", report("adyen", s.items[:3], batch="77"), actor=lead)
    assert err.value.code == "already_imported" and "Batch 77" in err.value.message


@pytest.mark.parametrize("psp", PSPS)
def test_one_bad_row_imports_nothing_and_names_the_row(psp, lead):
    s = scenario(psp)
    lines = report(psp, s.items).decode().splitlines()
    lines[4] = lines[4].replace("100.00", "10O.00", 1)  # row 5: a letter O in an amount
    assert "10O.00" in lines[4]

    with pytest.raises(InvalidInput) as err:
        run(psp, ("\n".join(lines) + "\n").encode(), actor=lead)

    assert err.value.code == "invalid_file"
    assert [e["row"] for e in err.value.extra["errors"]] == [5]
    assert "row 5" in err.value.message
    assert not SettlementImport.objects.exists() and not SettlementLine.objects.exists()
    assert not Break.objects.exists()


def test_a_file_of_the_other_psp_is_refused_by_its_header(lead):
    s = scenario("stripe")
    with pytest.raises(InvalidInput) as err:
        run("adyen", report("stripe", s.items), actor=lead)
    assert err.value.extra["errors"][0]["row"] == 1 and "Missing column" in err.value.extra["errors"][0]["message"]


def test_only_team_leads_import(specialist, auditor):
    s = scenario("stripe")
    for user in (specialist, auditor):
        with pytest.raises(PermissionDenied):
            run("stripe", report("stripe", s.items), actor=user)
    assert not SettlementImport.objects.exists()


@pytest.mark.parametrize("psp", PSPS)
def test_a_later_report_with_the_missing_settlement_auto_resolves_the_break(psp, lead):
    s = scenario(psp)
    run(psp, report(psp, s.items, payout_delta_minor=123), actor=lead)
    brk = Break.objects.get(kind="not_settled")

    later = run(psp, report(psp, [s.charge_item(s.unsettled)], at=timezone.now() - timedelta(days=6)), actor=lead)

    brk.refresh_from_db()
    assert brk.state == "auto_resolved" and brk.closed_by_import_id == later.pk
    assert later.auto_resolved_count == 1 and later.matched_count == 1
    row = JournalEntry.objects.filter(case_type="break", case_id=brk.pk).order_by("-id").first()
    assert (row.transition, row.source_state, row.target_state, row.actor_label) == (
        "auto_resolve", "open", "auto_resolved", "system:reconciliation")
    # Other breaks stay open: only what the report settled is closed.
    assert Break.objects.filter(state="open").count() == len(s.planted) - 1


def test_merchant_reference_amount_and_date_match_when_the_psp_id_differs(lead):
    s = scenario("adyen")
    payment = s.payments[1]
    item = s.charge_item(payment)
    from dataclasses import replace

    other = replace(item, reference="PUNKNOWNREF00001", merchant_reference=payment.invoice.number)
    job = run("adyen", report("adyen", [other]), actor=lead)
    line = SettlementLine.objects.get(settlement_import=job, kind="charge")
    assert (line.match, line.payment_id) == ("matched", payment.pk)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_manage_py_import_settlement(tmp_path, lead):
    s = scenario("stripe")
    path = tmp_path / "stripe-balance.csv"
    path.write_bytes(report("stripe", s.items, payout_delta_minor=123))
    settings_dict = connection.settings_dict
    env = {**os.environ, "DATABASE_URL": (f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:"
                                          f"{settings_dict['PORT']}/{settings_dict['NAME']}")}
    env.pop("DATABASE_OWNER_URL", None)
    command = [sys.executable, str(ROOT / "manage.py"), "import_settlement", "--psp", "stripe", str(path)]

    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(s.planted)} breaks opened" in done.stdout
    assert found() == sorted(s.planted)

    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert again.returncode == 0 and "already imported" in again.stdout
    assert SettlementImport.objects.count() == 1

    bad = tmp_path / "bad.csv"
    bad.write_text(path.read_text().replace("stripe", "").replace("charge,", "charge,", 1)
                   .replace("\n", "\nnot,a,valid,row\n", 1))
    refused = subprocess.run([*command[:-1], str(bad)], capture_output=True, text=True, env=env, timeout=120,
                             cwd=ROOT)
    assert refused.returncode != 0 and "row 2" in refused.stderr
    assert SettlementImport.objects.count() == 1


@pytest.mark.parametrize("psp", PSPS)
def test_our_refunds_and_chargebacks_the_psp_never_settled_are_breaks(psp, lead):
    from tests.refunds.factories import RefundFactory, make_dispute

    s = scenario(psp)
    captured = s.captured  # both fall inside the period the report covers (its first to last settled charge)
    ours_only = RefundFactory(payment=s.payments[1], amount_minor=700, state="succeeded",
                              psp_refund_id=f"re_ours_{psp}", succeeded_at=captured + timedelta(minutes=20))
    chargeback = make_dispute(payment=s.payments[2], state="needs_response", amount_minor=4_000)
    from disputes.models import Dispute

    Dispute.objects.filter(pk=chargeback.pk).update(psp=psp, created_at=captured + timedelta(minutes=40))

    run(psp, report(psp, s.items), actor=lead)

    refund_break = Break.objects.get(kind="refund_mismatch", psp_reference=ours_only.psp_refund_id)
    assert (refund_break.amount_minor, refund_break.refund_id) == (700, ours_only.pk)
    dispute_break = Break.objects.get(kind="dispute_mismatch", psp_reference=chargeback.psp_dispute_id)
    assert (dispute_break.amount_minor, dispute_break.dispute_id) == (4_000, chargeback.pk)
