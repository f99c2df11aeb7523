"""disputes 0008: a dispute a bad ``due_at`` already broke (year 10000 in UTC) is readable again after the repair."""

from __future__ import annotations

import importlib
import logging
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import DataError, connection
from django.utils import timezone

from disputes.models import Dispute
from tests.disputes.factories import DisputeFactory

repair_migration = importlib.import_module("disputes.migrations.0008_repair_unreadable_deadlines")

pytestmark = pytest.mark.django_db


def run_repair():
    repair_migration.repair(apps, SimpleNamespace(connection=connection))


def test_the_repair_is_safe_on_an_empty_table():
    assert not Dispute.objects.exists()
    run_repair()
    assert not Dispute.objects.exists()


@pytest.mark.postgres
def test_a_dispute_python_could_not_read_is_clamped_into_the_window_and_named_in_a_log_line(caplog):
    broken = DisputeFactory()
    fine = DisputeFactory()
    fine_due = Dispute.objects.get(pk=fine.pk).due_at
    with connection.cursor() as cursor:  # what open_chargeback stored for 9999-12-31T23:59:59-12:00
        cursor.execute("UPDATE disputes_dispute SET due_at = %s::timestamptz, internal_due_at = %s::timestamptz "
                       "WHERE id = %s", ["9999-12-31T23:59:59-12:00", "9999-12-29T23:59:59-12:00", broken.pk])
    with pytest.raises((DataError, ValueError, OverflowError)):
        list(Dispute.objects.filter(pk=broken.pk).values_list("due_at", flat=True))

    with caplog.at_level(logging.WARNING, logger="disputes.migrations"):
        run_repair()

    repaired = Dispute.objects.get(pk=broken.pk)
    assert repaired.due_at == datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert repaired.internal_due_at == repaired.due_at
    assert Dispute.objects.get(pk=fine.pk).due_at == fine_due  # a sane deadline is left alone
    assert [r.getMessage() for r in caplog.records if broken.reference in r.getMessage()]
    assert not [r for r in caplog.records if fine.reference in r.getMessage()]
    caplog.clear()
    run_repair()  # running again changes nothing
    assert not caplog.records


@pytest.mark.postgres
def test_a_deadline_before_2000_is_moved_to_the_start_of_the_window():
    old = DisputeFactory(due_at=timezone.now() + timedelta(days=3))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE disputes_dispute SET due_at = '0001-01-02T00:00:00+00', internal_due_at = NULL "
                       "WHERE id = %s", [old.pk])
    run_repair()
    repaired = Dispute.objects.get(pk=old.pk)
    assert repaired.due_at == datetime(2000, 1, 1, tzinfo=UTC) and repaired.internal_due_at is None


@pytest.mark.parametrize("text, expected", [
    ("10000-01-01 11:59:59", "2099-12-31 23:59:59"), ("2100-01-01 00:00:00", "2099-12-31 23:59:59"),
    ("1999-12-31 23:59:59", "2000-01-01 00:00:00"), ("0001-01-01 00:00:00", "2000-01-01 00:00:00"),
    ("2026-12-01 17:00:00", "2026-12-01 17:00:00"), (None, None),
])
def test_sqlite_text_values_are_clamped_by_year_first(text, expected):
    assert repair_migration._clamp_text(text) == expected
