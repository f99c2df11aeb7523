"""Dispute report import: Stripe's disputes export and Adyen's dispute report; all rows or none."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from backoffice.journal.models import JournalEntry
from disputes.models import Dispute, DisputeReportImport
from disputes.report_import import dispute_report_run, dispute_report_upload
from tests.invoices.factories import PaymentFactory

STRIPE_HEADER = ("id,Created (UTC),Amount,Currency,Reason,Status,Evidence Due By (UTC),Charge ID,"
                 "Payment Intent ID,Network Reason Code,Card Brand\n")
ADYEN_HEADER = ("Company Account,Merchant Account,Psp Reference,Merchant Reference,Payment Method,Record Date,"
                "Record Date TimeZone,Dispute Currency,Dispute Amount,Record Type,Dispute PSP Reference,"
                "Dispute Reason,CB Scheme Code,CB Reason Code,Dispute Status,Dispute End Date\n")


def stripe_csv(payments, *, bad_row: int | None = None) -> bytes:
    lines = [STRIPE_HEADER]
    for n, payment in enumerate(payments):
        amount = "oops" if bad_row == n + 2 else "45.00"
        lines.append(f"dp_import_{n:04d},2026-11-20 10:00,{amount},usd,fraudulent,needs_response,"
                     f"2031-01-15 23:59,{payment.psp_reference},,10.4,visa\n")
    return "".join(lines).encode()


def run(psp, content, lead, name="disputes.csv"):
    job = dispute_report_upload(psp=psp, file_name=name, content=content, actor=lead)
    return dispute_report_run(import_id=job.pk)


@pytest.mark.django_db
def test_one_bad_row_imports_nothing_and_names_the_row(lead):
    payments = PaymentFactory.create_batch(4)

    job = run("stripe", stripe_csv(payments, bad_row=4), lead)

    assert job.status == "refused"
    assert [e["row"] for e in job.errors] == [4]
    assert "oops" in job.errors[0]["message"]
    assert not Dispute.objects.exists()


@pytest.mark.django_db
def test_an_unknown_payment_is_a_row_error_too(lead):
    payments = PaymentFactory.create_batch(2)
    content = stripe_csv(payments).replace(payments[1].psp_reference.encode(), b"ch_not_in_the_ledger")

    job = run("stripe", content, lead)

    assert job.status == "refused" and job.errors == [
        {"row": 3, "message": "no stripe payment 'ch_not_in_the_ledger' in the ledger"}]
    assert not Dispute.objects.exists()


@pytest.mark.django_db
def test_a_good_file_imports_everything_and_re_import_adds_nothing(lead):
    payments = PaymentFactory.create_batch(3)
    content = stripe_csv(payments)

    first = run("stripe", content, lead)
    rows_after_first = JournalEntry.objects.count()
    again = run("stripe", content, lead)

    assert (first.status, first.created_count, first.updated_count) == ("done", 3, 0)
    assert (again.status, again.created_count, again.updated_count, again.unchanged_count) == ("done", 0, 0, 3)
    assert Dispute.objects.count() == 3 and JournalEntry.objects.count() == rows_after_first
    dispute = Dispute.objects.get(psp_dispute_id="dp_import_0001")
    assert (dispute.amount_minor, dispute.currency, dispute.state, dispute.reason_code.code) == (
        4500, "USD", "needs_response", "10.4")
    assert JournalEntry.objects.filter(case_id=dispute.pk, case_type="dispute").first().actor_label == "import:stripe"


@pytest.mark.django_db
def test_an_adyen_report_applies_its_records_in_order(lead):
    payment = PaymentFactory(psp="adyen", psp_reference="8815329842815468", currency="EUR")
    content = (ADYEN_HEADER
               + "HeliosCompute,HeliosComputeECOM,8815329842815468,INV-1,visa,2026-11-25 09:00:00,CET,EUR,100.00,"
                 "ChargebackReversed,9915555555555555,Merchandise not received,visa,13.1,Won,2031-01-30 10:00:00\n"
               + "HeliosCompute,HeliosComputeECOM,8815329842815468,INV-1,visa,2026-11-20 10:00:00,CET,EUR,100.00,"
                 "NotificationOfChargeback,9915555555555555,Merchandise not received,visa,13.1,Undefended,"
                 "2031-01-30 10:00:00\n"
               + "HeliosCompute,HeliosComputeECOM,8815329842815468,INV-1,visa,2026-11-22 10:00:00,CET,EUR,100.00,"
                 "InformationSupplied,9915555555555555,Merchandise not received,visa,13.1,Pending,"
                 "2031-01-30 10:00:00\n").encode()

    job = run("adyen", content, lead, name="dispute_report_2026_11_25.csv")

    assert job.status == "done", job.errors
    dispute = Dispute.objects.get()
    assert (dispute.payment_id, dispute.state, dispute.amount_minor, dispute.reason_code.code) == (
        payment.pk, "won", 10000, "13.1")
    assert list(JournalEntry.objects.filter(case_id=dispute.pk, case_type="dispute").order_by("seq")
                .values_list("transition", flat=True)) == ["create", "submit_evidence", "mark_won"]


@pytest.mark.django_db
def test_a_file_without_the_columns_is_refused_at_row_1(lead):
    job = run("adyen", b"a,b,c\n1,2,3\n", lead)

    assert job.status == "refused" and job.errors[0]["row"] == 1 and "Missing column" in job.errors[0]["message"]


@pytest.mark.django_db
def test_the_upload_page_is_for_team_leads_and_shows_the_result(client, specialist, lead,
                                                                 django_capture_on_commit_callbacks):
    payments = PaymentFactory.create_batch(2)
    client.force_login(specialist)
    assert client.get("/disputes/import/").status_code == 403
    client.force_login(lead)
    assert b"No report imported yet" in client.get("/disputes/import/").content

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/disputes/import/", {"psp": "stripe", "file": _upload(stripe_csv(payments, bad_row=3))})
    refused = client.get(response["Location"]).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/disputes/import/", {"psp": "stripe", "file": _upload(stripe_csv(payments))})
    done = client.get(response["Location"]).content.decode()

    assert 'data-row="3"' in refused and "Nothing was imported" in refused
    assert "2 disputes created" in done
    assert Dispute.objects.count() == 2


def _upload(content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("disputes.csv", content, content_type="text/csv")


@pytest.mark.django_db(transaction=True)
def test_the_command_imports_and_reports_bad_rows_with_their_numbers(tmp_path: Path, lead):
    payments = PaymentFactory.create_batch(3)
    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    bad.write_bytes(stripe_csv(payments, bad_row=2))
    good.write_bytes(stripe_csv(payments))
    db = connection.settings_dict
    env = {"DJANGO_SETTINGS_MODULE": "backoffice.settings.test", "PATH": "/usr/bin:/bin",
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
           if connection.vendor == "postgresql" else f"sqlite:///{db['NAME']}"}
    root = Path(__file__).resolve().parents[2]

    def command(path):
        return subprocess.run([sys.executable, "manage.py", "import_dispute_report", "stripe", str(path),
                               "--user", lead.username], cwd=root, env=env, capture_output=True, text=True,
                              timeout=120)

    refused = command(bad)
    assert refused.returncode == 1 and "row 2:" in refused.stderr and not Dispute.objects.exists()
    imported = command(good)
    assert imported.returncode == 0, imported.stderr
    assert "3 created, 0 updated, 0 unchanged" in imported.stdout
    assert "validating" in imported.stderr or "importing: 0/3 rows" in imported.stderr
    assert Dispute.objects.count() == 3 and DisputeReportImport.objects.count() == 2
