"""The auditor's search: one form for the journal, refused attempts and the access log; the CSV export.

Dates are calendar days in the user's time zone and both ends are inclusive: ``since=until=today``
is today from 00:00 to 24:00 local time. Bad input is a form error, never a 500.

The CSV export streams PostgreSQL's ``COPY (SELECT …) TO STDOUT`` through psycopg 3: the database
formats every cell (formula neutralisation by ``backoffice_csv_cell``, migrations ``insight.0002`` and
``0006``) except the context, which Python re-encodes as the journal's canonical JSON (sorted keys,
no spaces) with an encoder built once. Elsewhere (the SQLite demo) the same
columns are written row by row in Python. Both give the same rows.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import time as time_module
from binascii import unhexlify
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from json.encoder import c_make_encoder, encode_basestring
from json.scanner import c_make_scanner
from typing import Any

from django import forms
from django.db import connections, router
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from backoffice.journal.models import DeniedAttempt, JournalEntry

from .models import AuditAccess

logger = logging.getLogger("backoffice.insight")
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)
REFERENCE_RE = re.compile(r"^[A-Za-z]{2,5}-\d{1,12}$")
KINDS = (("journal", "Decisions (journal)"), ("denied", "Refused attempts"), ("access", "Access log"))
# Spreadsheets run a cell that starts with one of these as a formula; the apostrophe makes it text.
# A leading apostrophe is itself escaped, so stripping exactly one from a cell that starts with one
# gives back the stored value (see docs/AUDIT.md).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "'")


def neutralise(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def canonical_json(value: Any) -> str:
    """The journal's canonical encoding: sorted keys, no spaces, UTF-8 as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _case_type_choices() -> list[tuple[str, str]]:
    from backoffice.cases.registry import case_types

    choices = [("", "any")]
    choices += [(spec.model.CASE_TYPE, spec.label) for spec in case_types()]
    choices += [("approval_limit", "Approval limits"), ("sla_target", "SLA targets")]
    return choices


def _known_states() -> list[str]:
    from backoffice.cases.registry import case_types

    states: list[str] = []
    for spec in case_types():
        field = spec.model._meta.get_field("state")
        states += [value for value, _ in field.choices if value not in states]
    return states


def _known_transitions() -> list[str]:
    from backoffice.cases.registry import case_types

    names = ["created", "claim", "assign", "evidence_added"]
    for spec in case_types():
        names += [n for n in (*spec.model.PUBLIC_TRANSITIONS, *spec.model.SYSTEM_TRANSITIONS) if n not in names]
    return names


class AuditSearchForm(forms.Form):
    kind = forms.ChoiceField(choices=KINDS, required=False, initial="journal")
    since = forms.CharField(required=False, max_length=40, help_text="First day included (your time zone).")
    until = forms.CharField(required=False, max_length=40, help_text="Last day included (your time zone).")
    case_type = forms.ChoiceField(required=False)
    actor = forms.CharField(required=False, max_length=150, help_text="User name or system label; any case.")
    transition = forms.CharField(required=False, max_length=64)
    source = forms.CharField(required=False, max_length=32, label="From state")
    target = forms.CharField(required=False, max_length=32, label="To state")
    q = forms.CharField(required=False, max_length=200, label="Reference or text",
                        help_text="A case reference (DSP-000123) or words from the reason, code or message.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["case_type"].choices = _case_type_choices()
        self.known_states = _known_states()
        self.known_transitions = _known_transitions()

    def _clean_day(self, name: str) -> date | datetime | None:
        """A calendar day (``2026-03-10``, the date picker's format) or, for scripts, an exact ISO
        instant (``2026-03-10T12:00:00+00:00``; without an offset, in the user's time zone)."""
        raw = (self.cleaned_data.get(name) or "").strip()
        if not raw:
            return None
        value: date | datetime | None
        try:
            value = date.fromisoformat(raw) if len(raw) == 10 else parse_datetime(raw)
        except ValueError:
            value = None
        if value is None:
            raise forms.ValidationError("Enter a date as YYYY-MM-DD (or pick one).")
        if isinstance(value, datetime):
            if timezone.is_naive(value):
                value = timezone.make_aware(value, timezone.get_current_timezone())
            try:
                day = value.astimezone(UTC).date()
            except OverflowError:
                day = LATEST + timedelta(days=1)
        else:
            day = value
        if not (EARLIEST <= day <= LATEST):
            raise forms.ValidationError(f"Choose a date between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}.")
        return value

    def clean_since(self) -> date | None:
        return self._clean_day("since")

    def clean_until(self) -> date | None:
        return self._clean_day("until")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = self.window() if not self.errors else (None, None)
        if start and end and start >= end:
            self.add_error("until", "The last day is before the first day.")
        for name in ("actor", "transition", "source", "target", "q"):
            if isinstance(data.get(name), str):
                data[name] = data[name].strip()
        data["kind"] = data.get("kind") or "journal"
        return data

    def window(self) -> tuple[datetime | None, datetime | None]:
        """[start, end) in UTC for the inclusive local days chosen (an exact instant is kept, and an
        instant given as ``until`` is included)."""
        tz = timezone.get_current_timezone()
        since, until = self.cleaned_data.get("since"), self.cleaned_data.get("until")
        start = end = None
        if isinstance(since, datetime):
            start = since.astimezone(UTC)
        elif since:
            start = datetime.combine(since, time.min, tzinfo=tz).astimezone(UTC)
        if isinstance(until, datetime):
            end = until.astimezone(UTC) + timedelta(microseconds=1)
        elif until:
            end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)
        return start, end

    def params(self) -> dict[str, str]:
        """What was asked, for the access log: only the filters that were set."""
        out: dict[str, str] = {}
        for name in self.fields:
            value = self.cleaned_data.get(name) if self.is_bound and hasattr(self, "cleaned_data") else None
            if value not in (None, ""):
                out[name] = value.isoformat() if isinstance(value, date | datetime) else str(value)
        return out


def _reference_or_text(q: str, *, text_fields: tuple[str, ...]) -> Q:
    if REFERENCE_RE.match(q):
        return Q(case_reference=q.upper())  # exact: journal_reference_idx serves it
    condition = Q()
    for name in text_fields:
        condition |= Q(**{f"{name}__icontains": q})
    return condition


def _filtered(qs: QuerySet, form: AuditSearchForm, *, exact: dict[str, str] | None = None) -> QuerySet:
    """The filters every audit table shares (time window, case type, actor), then ``exact``: form field →
    the column it matches case-insensitively."""
    data = form.cleaned_data
    start, end = form.window()
    if start:
        qs = qs.filter(created_at__gte=start)
    if end:
        qs = qs.filter(created_at__lt=end)
    if data.get("case_type"):
        qs = qs.filter(case_type=data["case_type"])
    if data.get("actor"):
        qs = qs.filter(actor_label__istartswith=data["actor"])
    for name, column in (exact or {}).items():
        if data.get(name):
            qs = qs.filter(**{f"{column}__iexact": data[name]})
    return qs


def journal_rows(form: AuditSearchForm) -> QuerySet[JournalEntry]:
    qs = _filtered(JournalEntry.objects.all(), form,
                   exact={"transition": "transition", "source": "source_state", "target": "target_state"})
    if q := form.cleaned_data.get("q"):
        qs = qs.filter(_reference_or_text(q, text_fields=("case_reference", "reason", "transition")))
    return qs.order_by("-created_at", "-id")


def denied_rows(form: AuditSearchForm) -> QuerySet[DeniedAttempt]:
    qs = _filtered(DeniedAttempt.objects.all(), form, exact={"transition": "action"})
    if q := form.cleaned_data.get("q"):
        qs = qs.filter(_reference_or_text(q, text_fields=("case_reference", "code", "message")))
    return qs.order_by("-created_at", "-id")


def access_rows(form: AuditSearchForm) -> QuerySet[AuditAccess]:
    qs = _filtered(AuditAccess.objects.all(), form)
    if q := form.cleaned_data.get("q"):
        qs = qs.filter(action__icontains=q)
    return qs.order_by("-created_at", "-id")


# ---- CSV export --------------------------------------------------------------------------------

def _has_key_id() -> bool:
    return any(f.name == "key_id" for f in JournalEntry._meta.get_fields())


def export_header() -> list[str]:
    return ["created_at", "case_type", "case_reference", "case_id", "seq", "transition", "source", "target",
            "actor_id", "actor", "reason", "key_id", "prev_hash", "hash", "context"]


def _python_rows(qs: QuerySet[JournalEntry]) -> Iterator[list[Any]]:
    key_id = _has_key_id()
    fields = ["created_at", "case_type", "case_reference", "case_id", "seq", "transition", "source_state",
              "target_state", "actor_id", "actor_label", "reason", "context", "prev_hash", "hash"]
    if key_id:
        fields.append("key_id")
    for row in qs.values_list(*fields).iterator(chunk_size=2000):
        values = dict(zip(fields, row, strict=True))
        yield [
            values["created_at"].astimezone(UTC).isoformat(timespec="microseconds"),
            neutralise(values["case_type"]), neutralise(values["case_reference"]), values["case_id"],
            values["seq"], neutralise(values["transition"]), neutralise(values["source_state"]),
            neutralise(values["target_state"]), "" if values["actor_id"] is None else values["actor_id"],
            neutralise(values["actor_label"]), neutralise(values["reason"]), neutralise(values.get("key_id", "")),
            values["prev_hash"], values["hash"], canonical_json(values["context"]),
        ]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_python(qs: QuerySet[JournalEntry]) -> Iterator[bytes]:
    writer = csv.writer(_Echo(), lineterminator="\r\n")  # quotes any field holding CR or LF
    yield writer.writerow(export_header()).encode()
    batch: list[str] = []
    for row in _python_rows(qs):
        batch.append(writer.writerow(row))
        if len(batch) >= 500:
            yield "".join(batch).encode()
            batch = []
    if batch:
        yield "".join(batch).encode()


def _copy_sql(qs: QuerySet[JournalEntry], alias: str) -> tuple[Any, tuple[Any, ...]]:
    """COPY in CSV format; each row starts with the context's jsonb text in hexadecimal (no comma, no
    quote: the row splits at its first comma; cheaper for the database than measuring the quoted text),
    then the export's other cells, formatted by the database."""
    from psycopg import sql

    inner = qs.values_list("id", "created_at", "case_type", "case_reference", "case_id", "seq", "transition",
                           "source_state", "target_state", "actor_id", "actor_label", "reason", "context",
                           "prev_hash", "hash", *(["key_id"] if _has_key_id() else []))
    inner_sql, params = inner.query.get_compiler(using=alias).as_sql()
    statement = sql.SQL(
        "COPY (SELECT encode(convert_to(j.context::text, 'UTF8'), 'hex'), "
        "to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00', "
        "backoffice_csv_cell(j.case_type), backoffice_csv_cell(j.case_reference), j.case_id, j.seq, "
        "backoffice_csv_cell(j.transition), backoffice_csv_cell(j.source_state), "
        "backoffice_csv_cell(j.target_state), j.actor_id, backoffice_csv_cell(j.actor_label), "
        "backoffice_csv_cell(j.reason), {key_id}, j.prev_hash, j.hash "
        "FROM ({inner}) AS j ORDER BY j.created_at DESC, j.id DESC) "
        "TO STDOUT WITH (FORMAT csv)"
    ).format(key_id=sql.SQL("backoffice_csv_cell(j.key_id)" if _has_key_id() else "NULL"),
             inner=sql.SQL(inner_sql))  # the inner SELECT is Django's, its values stay parameters
    return statement, tuple(params)


STREAM_CHUNK_BYTES = 64 * 1024
# The canonical encoder and the JSON scanner built once: ``json.dumps``/``loads`` build them per call,
# which was most of the export's Python time (one call each per row).
_ENCODE = c_make_encoder(None, str, encode_basestring, None, ":", ",", True, False, True) if c_make_encoder else None
_SCAN = c_make_scanner(json.JSONDecoder()) if c_make_scanner else None


def _canonical_from_jsonb_text(text: str) -> str:
    if _ENCODE is None or _SCAN is None:  # no C accelerator: the same encoding, slower
        return canonical_json(json.loads(text))
    return "".join(_ENCODE(_SCAN(text, 0)[0], 0))


def _csv_copy(qs: QuerySet[JournalEntry], alias: str) -> Iterator[bytes]:
    """Forward COPY's rows, replacing only the context cell by its canonical JSON (PostgreSQL sends
    one message per row, so no record boundary has to be searched for)."""
    yield (",".join(export_header()) + "\n").encode()
    sql, params = _copy_sql(qs, alias)
    connection = connections[alias]
    connection.ensure_connection()
    canonical = _canonical_from_jsonb_text
    out: list[bytes] = []
    size = 0
    started = time_module.monotonic()
    with connection.cursor() as cursor, cursor.cursor.copy(sql, params) as copy:
        if connection.queries_logged:  # COPY bypasses Django's query log: record it like any query
            connection.queries_log.append({"sql": sql.as_string(cursor.cursor.connection), "time": "0.000"})
        for block in copy:
            row = bytes(block)
            comma = row.index(b",")
            context = canonical(unhexlify(row[:comma]).decode())
            line = b"".join((row[comma + 1:-1], b',"', context.replace('"', '""').encode(), b'"\n'))
            out.append(line)
            size += len(line)
            if size >= STREAM_CHUNK_BYTES:
                yield b"".join(out)
                out, size = [], 0
    if out:
        yield b"".join(out)
    logger.debug("audit_export_copy seconds=%.3f", time_module.monotonic() - started)


def journal_csv(qs: QuerySet[JournalEntry]) -> Iterator[bytes]:
    """The export's bytes: header, then one line per journal row (newest first)."""
    alias = router.db_for_read(JournalEntry)
    if connections[alias].vendor == "postgresql":
        return _csv_copy(qs, alias)
    return _csv_python(qs)
