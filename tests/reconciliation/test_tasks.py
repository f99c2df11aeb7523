"""The folder import and the break-age reminders."""

from __future__ import annotations

import json
from datetime import timedelta

from django.utils import timezone

from backoffice.notifications.models import Notification
from reconciliation.models import Break, SettlementImport
from reconciliation.tasks import import_folder_now, send_break_reminders_now

from .factories import report, scenario
from .test_services import make_break


def test_folder_reports_are_imported_once_and_bad_ones_set_aside(tmp_path, settings):
    settings.SETTLEMENT_IMPORT_DIR = str(tmp_path)
    s = scenario("adyen")
    (tmp_path / "adyen").mkdir()
    (tmp_path / "stripe").mkdir()
    (tmp_path / "adyen" / "settlement_detail_report_batch_1.csv").write_bytes(report("adyen", s.items))
    (tmp_path / "stripe" / "broken.csv").write_bytes(b"balance_transaction_id,currency\nx,usd\n")

    assert import_folder_now() == {"imported": 1, "already": 0, "refused": 1}

    assert SettlementImport.objects.get().source == "folder"
    assert (tmp_path / "adyen" / "done" / "settlement_detail_report_batch_1.csv").exists()
    errors = json.loads((tmp_path / "stripe" / "refused" / "broken.errors.json").read_text())
    assert errors["code"] == "invalid_file" and errors["errors"][0]["row"] == 1
    assert import_folder_now() == {"imported": 0, "already": 0, "refused": 0}


def test_reminders_once_per_threshold_to_the_leads_or_the_assignee(lead, specialist):
    old = make_break()
    Break.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=9))
    mine = make_break()
    Break.objects.filter(pk=mine.pk).update(created_at=timezone.now() - timedelta(days=4), assignee=specialist)
    make_break()  # new: no reminder yet

    assert send_break_reminders_now().acted == 2
    assert send_break_reminders_now().acted == 0  # each threshold once
    assert Notification.objects.filter(recipient=lead, case_id=old.pk, title__contains="open for 8 days").exists()
    assert Notification.objects.filter(recipient=specialist, case_id=mine.pk,
                                       title__contains="open for 3 days").exists()
