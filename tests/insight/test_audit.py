"""/audit/: inclusive local-day ranges, form errors, case-insensitive actor, filters, links, refused
attempts, the access log, and the CSV export (COPY path = Python path, neutralised, re-verifiable)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection
from freezegun import freeze_time

from backoffice.cases.transitions import Transition, run_transition
from backoffice.errors import DomainError
from backoffice.insight import audit as audit_module
from backoffice.insight.models import AuditAccess
from backoffice.journal.models import JournalEntry
from tests.backoffice.factories import make_ticket
from tests.testapp.models import Ticket
from tests.testapp.transitions import ticket_step

ROOT = Path(__file__).resolve().parents[2]


def rows_of(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


@pytest.fixture
def tickets(specialist, lead):
    """Three tickets, journaled at known instants (UTC)."""
    made = {}
    with freeze_time("2026-03-09 23:30:00"):  # 2026-03-10 04:30 in Asia/Almaty (UTC+5)
        made["late"] = make_ticket(requester=specialist, title="late evening")
    with freeze_time("2026-03-10 12:00:00"):
        made["noon"] = make_ticket(requester=specialist, title="noon")
        run_transition(ticket_step("start"), pk=made["noon"].pk, actor=lead, reason="=HYPERLINK(\"x\")")
    with freeze_time("2026-03-11 08:00:00"):
        made["next"] = make_ticket(requester=lead, title="next day")
    return made


def refs(html: str, tickets) -> set[str]:
    return {name for name, t in tickets.items() if t.reference in html}


@pytest.mark.django_db
def test_one_day_range_includes_its_own_day_in_utc(client, auditor, tickets):
    client.force_login(auditor)
    html = client.get("/audit/?since=2026-03-10&until=2026-03-10").content.decode()
    assert refs(html, tickets) == {"noon"}
    html = client.get("/audit/?since=2026-03-09&until=2026-03-11").content.decode()
    assert refs(html, tickets) == {"late", "noon", "next"}


@pytest.mark.django_db
def test_scripts_may_send_exact_instants(client, auditor, tickets):
    client.force_login(auditor)
    html = client.get("/audit/?since=2026-03-10T12:00:00%2B00:00&until=2026-03-11T08:00:00%2B00:00").content.decode()
    assert refs(html, tickets) == {"noon", "next"}
    html = client.get("/audit/?since=2026-03-10T12:00:00.000001%2B00:00").content.decode()
    assert refs(html, tickets) == {"next"}


@pytest.mark.django_db
def test_days_are_counted_in_the_users_time_zone(client, auditor, tickets, settings):
    settings.TIME_ZONE = "Asia/Almaty"  # UTC+5: the 23:30 UTC row belongs to the next local day
    client.force_login(auditor)
    html = client.get("/audit/?since=2026-03-10&until=2026-03-10").content.decode()
    assert refs(html, tickets) == {"late", "noon"}


@pytest.mark.django_db
@pytest.mark.parametrize("query, field", [
    ("since=yesterday", "since"),
    ("until=2026-02-30", "until"),
    ("since=0001-01-01", "since"),
    ("until=9999-12-31", "until"),
    ("since=2026-03-11&until=2026-03-10", "until"),
    ("until=9999-12-31T23:59:59-12:00", "until"),
    ("since=2026-03-10T25:00:00", "since"),
])
def test_bad_dates_are_form_errors_not_500(client, auditor, query, field):
    client.force_login(auditor)
    page = client.get(f"/audit/?{query}")
    assert page.status_code == 400
    assert f'data-error="{field}"' in page.content.decode()
    export = client.get(f"/audit/export.csv?{query}")
    assert export.status_code == 400 and f'data-error="{field}"' in export.content.decode()


@pytest.mark.django_db
def test_nul_bytes_and_long_text_are_refused_politely(client, auditor):
    client.force_login(auditor)
    assert client.get("/audit/?actor=le%00ad").status_code == 400
    assert client.get("/audit/?q=" + "x" * 500).status_code == 400
    assert client.get("/audit/?page=%C2%B2").status_code == 200  # a Unicode digit is page 1


@pytest.mark.django_db
def test_actor_is_case_insensitive_and_filters_combine(client, auditor, tickets):
    client.force_login(auditor)
    html = client.get("/audit/?actor=LEAD1").content.decode()
    assert refs(html, tickets) == {"noon", "next"}  # lead1 started "noon" and created "next"
    html = client.get("/audit/?transition=START&source=open&target=working").content.decode()
    assert refs(html, tickets) == {"noon"}
    html = client.get("/audit/?target=done").content.decode()
    assert refs(html, tickets) == set()
    html = client.get(f"/audit/?q={tickets['late'].reference.lower()}").content.decode()
    assert refs(html, tickets) == {"late"}
    html = client.get("/audit/?q=hyperlink").content.decode()  # free text in the reason
    assert refs(html, tickets) == {"noon"}


@pytest.mark.django_db
def test_rows_link_to_their_case_page(client, auditor, tickets):
    client.force_login(auditor)
    html = client.get("/audit/?since=2026-03-10&until=2026-03-10").content.decode()
    assert f'href="/tickets/{tickets["noon"].pk}/" data-case-link' in html


@pytest.mark.django_db
def test_refused_attempts_are_searchable_on_the_same_page(client, auditor, specialist, tickets):
    with pytest.raises(DomainError):
        run_transition(ticket_step("start"), pk=tickets["late"].pk, actor=auditor)
    client.force_login(auditor)
    html = client.get("/audit/?kind=denied&actor=AUDIT").content.decode()
    assert tickets["late"].reference in html and 'data-code="permission_denied"' in html
    assert f'href="/tickets/{tickets["late"].pk}/"' in html
    assert tickets["late"].reference not in client.get("/audit/?kind=denied&actor=spec").content.decode()


@pytest.mark.django_db
def test_every_search_and_export_is_recorded(client, auditor, specialist, tickets):
    client.force_login(auditor)
    client.get("/audit/?actor=lead1&since=2026-03-10")
    rows_of(client.get("/audit/export.csv?case_type=ticket"))
    client.force_login(specialist)
    assert client.get("/audit/").status_code == 403
    logged = list(AuditAccess.objects.order_by("id").values_list("actor_label", "action", "params"))
    assert logged[0][:2] == ("audit1", "search")
    assert logged[0][2]["actor"] == "lead1" and logged[0][2]["since"] == "2026-03-10"
    assert logged[1][:2] == ("audit1", "export") and logged[1][2]["case_type"] == "ticket"
    assert logged[2][:2] == ("spec1", "refused")
    client.force_login(auditor)
    html = client.get("/audit/?kind=access&actor=spec1").content.decode()
    assert "Was refused the audit pages" in html


@pytest.mark.django_db
def test_csv_rows_are_neutralised_canonical_and_carry_hashes(client, auditor, tickets):
    client.force_login(auditor)
    rows = rows_of(client.get("/audit/export.csv?case_type=ticket&transition=start"))
    header, data = rows[0], rows[1:]
    assert header == audit_module.export_header()
    assert len(data) == 1
    row = dict(zip(header, data[0], strict=True))
    entry = JournalEntry.objects.get(case_id=tickets["noon"].pk, transition="start")
    assert row["reason"] == "'=HYPERLINK(\"x\")"  # a spreadsheet shows it as text
    assert row["created_at"] == "2026-03-10T12:00:00.000000+00:00"
    assert row["context"] == audit_module.canonical_json(entry.context)
    assert row["prev_hash"] == entry.prev_hash and row["hash"] == entry.hash
    assert row["actor"] == "lead1" and row["actor_id"] == str(entry.actor_id)


@pytest.mark.django_db
def test_copy_export_gives_the_same_rows_as_the_python_writer(auditor, lead):
    if connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    ticket = make_ticket(requester=lead)
    context = {"nested": {"b": [1, 2, {"z": None}], "a": "x\u2028y"}, "amount": 12345,
               "zz": ['a,"b', '",', "\u00e9\n\t\u0001"]}
    start = Transition(model=Ticket, name="start", journal=lambda run: context)
    for reason in ("+1 (555) call", "-minus", "@at", "\ttab", "\rcr", "'quoted", 'comma, "quote"\nnewline',
                   "naïve ünïcode ✓", "", ',"{ends like a context",",'):
        run_transition(start, pk=ticket.pk, actor=lead, reason=reason)
        Ticket.objects.filter(pk=ticket.pk).update(state="open")
    qs = JournalEntry.objects.filter(case_id=ticket.pk).order_by("-created_at", "-id")
    copy_rows = list(csv.reader(io.StringIO(b"".join(audit_module._csv_copy(qs, "default")).decode())))
    python_rows = list(csv.reader(io.StringIO(b"".join(audit_module._csv_python(qs)).decode())))
    assert copy_rows == python_rows
    assert len(copy_rows) == 12
    started = [dict(zip(copy_rows[0], row, strict=True)) for row in copy_rows[1:] if row[5] == "start"]
    assert len(started) == 10
    assert all(row["context"].startswith('{"amount":12345,"nested":{"a":"x\u2028y","b":[1,2,{"z":null}]}')
               for row in started)


@pytest.mark.django_db
def test_the_documented_script_reverifies_the_export_and_finds_a_change(client, auditor, tickets, tmp_path):
    client.force_login(auditor)
    body = b"".join(client.get("/audit/export.csv").streaming_content)
    path = tmp_path / "journal.csv"
    path.write_bytes(body)
    script = [sys.executable, str(ROOT / "docs" / "verify_journal_csv.py"), str(path), "--complete"]
    env = {"PATH": "/usr/bin:/bin", "JOURNAL_HMAC_KEYS": _keys_env()}
    ok = subprocess.run(script, capture_output=True, text=True, env=env, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip().endswith("intact")
    path.write_bytes(body.replace(b"late evening", b"late evening").replace(b"'=HYPERLINK", b"'=HYPERLYNK"))
    bad = subprocess.run(script, capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 1 and "does not match its hash" in bad.stdout


def _keys_env() -> str:
    from django.conf import settings

    return ",".join(f"{key_id}:{secret.decode()}" for key_id, secret in getattr(settings, "JOURNAL_HMAC_KEYS", []))


@pytest.mark.django_db
def test_case_history_page_and_pdf(client, auditor, specialist, tickets):
    from pypdf import PdfReader

    from backoffice.cases.services import case_comment_add

    case_comment_add(case=tickets["noon"], author=specialist, body="Called the customer back")
    client.force_login(specialist)
    assert client.get(f"/audit/cases/ticket/{tickets['noon'].pk}/").status_code == 403
    client.force_login(auditor)
    html = client.get(f"/audit/cases/ticket/{tickets['noon'].pk}/").content.decode()
    assert "Called the customer back" in html and "=HYPERLINK" in html
    assert client.get("/audit/cases/ticket/999999/").status_code == 404
    response = client.get(f"/audit/cases/ticket/{tickets['noon'].pk}/history.pdf")
    assert response["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert tickets["noon"].reference in text and "Called the customer back" in text and "start" in text
    assert list(AuditAccess.objects.filter(actor_label="audit1").values_list("action", flat=True)) == [
        "case_history", "case_history_pdf"]


def test_neutralise_prefixes():
    assert [audit_module.neutralise(v) for v in ("=1", "+1", "-1", "@a", "\tx", "\rx", "'x", "ok", "", None)] == [
        "'=1", "'+1", "'-1", "'@a", "'\tx", "'\rx", "''x", "ok", "", ""]


def test_window_is_utc_of_local_midnights(settings):
    settings.TIME_ZONE = "America/New_York"
    form = audit_module.AuditSearchForm({"since": "2026-03-08", "until": "2026-03-08"})
    assert form.is_valid()
    start, end = form.window()
    # 8 March 2026 is the day New York moves to summer time: 23 hours long.
    assert start == datetime(2026, 3, 8, 5, 0, tzinfo=UTC) and end == datetime(2026, 3, 9, 4, 0, tzinfo=UTC)
