"""Dispute report import: Stripe's disputes export and Adyen's dispute report (CSV).

Every row is validated first — parsed, its payment found — and any error refuses the whole file
with the rows named (row 1 is the header, as a spreadsheet numbers them). A valid file is applied
in one transaction through ``disputes.psp.dispute_from_psp``: a new dispute is created, a known one
only moves forwards, so importing the same file again changes nothing. The journal's actor is
``import:stripe`` / ``import:adyen`` with the team lead who uploaded it in the context.

Columns read (others are ignored; headers match case-insensitively):

* Stripe disputes export: ``id``, ``Amount`` (major units), ``Currency``, ``Status``, ``Reason``,
  ``Charge ID`` or ``Payment Intent ID``; optional ``Evidence Due By (UTC)``, ``Network Reason Code``,
  ``Card Brand``.
* Adyen dispute report: ``Psp Reference`` (the payment), ``Dispute PSP Reference``, ``Record Type``,
  ``Dispute Currency``, ``Dispute Amount`` (major units); optional ``Record Date``, ``Dispute Status``,
  ``Dispute End Date``, ``CB Reason Code`` / ``RFI Reason Code``, ``CB Scheme Code`` / ``RFI Scheme Code``
  / ``Payment Method``. Rows of an Adyen report are applied in ``Record Date`` order.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from backoffice.actors import IMPORT_ADYEN, IMPORT_STRIPE, actor_label
from backoffice.errors import DomainError, InvalidInput
from backoffice.money import MoneyError, is_valid_currency, parse_minor
from invoices.models import Payment

from . import policy
from .models import DisputeReportImport, ReportImportStatus
from .psp import PspDispute, dispute_find_psp, dispute_from_psp
from .reported import ADYEN_KINDS, STRIPE_STATUS, adyen_dispute, adyen_kind, stripe_dispute

logger = logging.getLogger("disputes.report_import")

MAX_ROWS = 100_000
PROGRESS_EVERY = 200
ADYEN_SKIPPED_TYPES = {"notificationoffraud"}  # fraud reports are not disputes: listed, not imported


class RowError(Exception):
    pass


@dataclass(frozen=True)
class ReportRow:
    row: int
    reported: PspDispute
    payment_id: int
    order: tuple


def _headers(reader: csv.DictReader) -> dict[str, str]:
    return {(name or "").strip().lower(): name for name in (reader.fieldnames or [])}


def _get(record: dict, headers: dict[str, str], *names: str) -> str:
    for name in names:
        key = headers.get(name.lower())
        if key is not None:
            return (record.get(key) or "").strip()
    return ""


def _amount(text: str, currency: str) -> int:
    try:
        return parse_minor(text.replace(",", "") if text.count(",") and "." in text else text, currency)
    except MoneyError as err:
        raise RowError(f"amount {text!r}: {err.message}") from err


def _currency(text: str) -> str:
    currency = text.strip().upper()
    if not is_valid_currency(currency):
        raise RowError(f"{text!r} is not an ISO 4217 currency")
    return currency


def _when(text: str) -> datetime | None:
    if not text:
        return None
    try:
        parsed = parse_datetime(text.replace(" ", "T", 1)) if len(text) > 10 else None
        day = parse_date(text) if parsed is None else None
    except ValueError as exc:
        raise RowError(f"{text!r} is not a date") from exc
    if parsed is None and day is None:
        raise RowError(f"{text!r} is not a date")
    if parsed is None:
        parsed = datetime(day.year, day.month, day.day, 23, 59, 59)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _payment(psp: str, references: list[str]) -> int:
    refs = [r for r in references if r]
    if not refs:
        raise RowError("no payment reference")
    found = Payment.objects.filter(psp=psp, psp_reference__in=refs).values_list("pk", flat=True).first()
    if found is None:
        raise RowError(f"no {psp} payment {refs[0]!r} in the ledger")
    return found


def _stripe_row(record: dict, headers: dict[str, str], row: int) -> ReportRow | None:
    dispute_id = _get(record, headers, "id", "Dispute ID")
    if not dispute_id or len(dispute_id) > 64:
        raise RowError("id is missing or longer than 64 characters")
    currency = _currency(_get(record, headers, "Currency"))
    status = _get(record, headers, "Status").lower()
    if status not in STRIPE_STATUS:
        raise RowError(f"unknown status {status!r}")
    charge = _get(record, headers, "Charge ID", "Charge")
    intent = _get(record, headers, "Payment Intent ID", "Payment Intent")
    reported = stripe_dispute(
        psp_dispute_id=dispute_id, status=status, amount_minor=_amount(_get(record, headers, "Amount"), currency),
        currency=currency, brand=_get(record, headers, "Card Brand", "Network"),
        reason_code=_get(record, headers, "Network Reason Code") or _get(record, headers, "Reason").lower(),
        due_at=_when(_get(record, headers, "Evidence Due By (UTC)", "Evidence Due By")),
    )
    return ReportRow(row, reported, _payment("stripe", [charge, intent]), (row,))


def _adyen_row(record: dict, headers: dict[str, str], row: int) -> ReportRow | None:
    record_type = adyen_kind(_get(record, headers, "Record Type"))
    if record_type in ADYEN_SKIPPED_TYPES:
        return None
    if record_type not in ADYEN_KINDS:
        raise RowError(f"unknown Record Type {_get(record, headers, 'Record Type')!r}")
    dispute_id = _get(record, headers, "Dispute PSP Reference")
    if not dispute_id or len(dispute_id) > 64:
        raise RowError("Dispute PSP Reference is missing or longer than 64 characters")
    currency = _currency(_get(record, headers, "Dispute Currency"))
    recorded = _when(_get(record, headers, "Record Date"))
    reported = adyen_dispute(
        psp_dispute_id=dispute_id, kind=record_type, dispute_status=_get(record, headers, "Dispute Status"),
        amount_minor=_amount(_get(record, headers, "Dispute Amount"), currency), currency=currency,
        scheme=(_get(record, headers, "CB Scheme Code") or _get(record, headers, "RFI Scheme Code")
                or _get(record, headers, "Payment Method")),
        reason_code=_get(record, headers, "CB Reason Code") or _get(record, headers, "RFI Reason Code")
        or _get(record, headers, "Dispute Reason"),
        due_at=_when(_get(record, headers, "Dispute End Date")),
    )
    payment = _payment("adyen", [_get(record, headers, "Psp Reference")])
    return ReportRow(row, reported, payment, (recorded or datetime.min.replace(tzinfo=UTC), row))


PARSERS: dict[str, tuple[Callable[..., ReportRow | None], tuple[str, ...]]] = {
    "stripe": (_stripe_row, ("id", "amount", "currency", "status")),
    "adyen": (_adyen_row, ("psp reference", "dispute psp reference", "record type", "dispute currency",
                           "dispute amount")),
}


def dispute_report_validate(*, psp: str, content: bytes,
                            progress: Callable[[int, int], None] | None = None
                            ) -> tuple[list[ReportRow], list[dict[str, Any]]]:
    """Every row checked: ``(rows, errors)``; errors are ``{"row": n, "message": …}`` (row 1 = header)."""
    if psp not in PARSERS:
        raise InvalidInput(f"Unknown report type {psp!r}: stripe or adyen.", code="invalid_psp")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [{"row": 0, "message": "The file is not UTF-8 text (export it as CSV)."}]
    dialect = csv.excel_tab if text[:2000].count("\t") > text[:2000].count(",") else csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    headers = _headers(reader)
    parse, required = PARSERS[psp]
    missing = [name for name in required if name not in headers]
    if psp == "stripe" and "charge id" not in headers and "payment intent id" not in headers:
        missing.append("charge id (or payment intent id)")
    if missing:
        return [], [{"row": 1, "message": f"Missing column(s): {', '.join(missing)}."}]
    records = list(reader)
    if len(records) > MAX_ROWS:
        return [], [{"row": 0, "message": f"At most {MAX_ROWS} rows per file."}]
    rows, errors = [], []
    for index, record in enumerate(records):
        number = index + 2
        if None in record:
            errors.append({"row": number, "message": "more values than columns"})
            continue
        try:
            parsed = parse(record, headers, number)
        except RowError as err:
            errors.append({"row": number, "message": str(err)})
            continue
        if parsed is not None:
            rows.append(parsed)
        if progress is not None and (index + 1) % PROGRESS_EVERY == 0:
            progress(index + 1, len(records))
    if not records:
        errors.append({"row": 0, "message": "The file has no rows."})
    return sorted(rows, key=lambda r: r.order), errors


def dispute_report_apply(*, psp: str, rows: list[ReportRow], imported_by: Any, file_name: str
                         ) -> tuple[int, int, int]:
    """Apply validated rows in one transaction: ``(created, updated, unchanged)``."""
    actor = IMPORT_STRIPE if psp == "stripe" else IMPORT_ADYEN
    created = updated = unchanged = 0
    payments = Payment.objects.in_bulk([row.payment_id for row in rows])
    with transaction.atomic():
        for row in rows:
            existed = dispute_find_psp(psp=psp, psp_dispute_id=row.reported.psp_dispute_id) is not None
            try:
                _, taken = dispute_from_psp(
                    reported=row.reported, payment=payments[row.payment_id], actor=actor,
                    reason=f"Dispute report {file_name}, row {row.row}, imported by {actor_label(imported_by)}")
            except DomainError as err:
                raise InvalidInput(f"Row {row.row}: {err.message}", code="report_row_refused",
                                   extra={"row": row.row}) from err
            if not taken:
                unchanged += 1
            elif existed or "created" not in taken:
                updated += 1
            else:
                created += 1
    return created, updated, unchanged


# ---------------------------------------------------------------- the import, as people and tasks run it


def dispute_report_upload(*, psp: str, file_name: str, content: bytes, actor: Any) -> DisputeReportImport:
    """A team lead's upload, stored and queued (the task validates and imports it)."""
    policy.require("import_reports", actor)
    if psp not in PARSERS:
        raise InvalidInput("Choose the report's PSP: stripe or adyen.", code="invalid_psp")
    if not content:
        raise InvalidInput("The file is empty.", code="empty_file")
    return DisputeReportImport.objects.create(
        psp=psp, file_name=(file_name or "report.csv")[:255], content=content,
        sha256=hashlib.sha256(content).hexdigest(), uploaded_by=actor)


def _set(job: DisputeReportImport, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(job, name, value)
    DisputeReportImport.objects.filter(pk=job.pk).update(**fields)


def dispute_report_run(*, import_id: int, progress: Callable[[str, int, int], None] | None = None
                       ) -> DisputeReportImport | None:
    """Validate every row (progress recorded as it goes), then import all or nothing."""
    job = DisputeReportImport.objects.filter(pk=import_id).select_related("uploaded_by").first()
    if job is None or not job.running:
        return job
    _set(job, status=ReportImportStatus.VALIDATING)

    def validated(done: int, total: int) -> None:
        _set(job, rows_done=done, rows_total=total)
        if progress is not None:
            progress("validating", done, total)

    rows, errors = dispute_report_validate(psp=job.psp, content=bytes(job.content), progress=validated)
    if errors:
        _set(job, status=ReportImportStatus.REFUSED, errors=errors[:1000], finished_at=timezone.now())
        return job
    _set(job, status=ReportImportStatus.IMPORTING, rows_total=len(rows), rows_done=0)
    if progress is not None:
        progress("importing", 0, len(rows))
    try:
        created, updated, unchanged = dispute_report_apply(psp=job.psp, rows=rows, imported_by=job.uploaded_by,
                                                           file_name=job.file_name)
    except InvalidInput as err:
        _set(job, status=ReportImportStatus.REFUSED, finished_at=timezone.now(),
             errors=[{"row": err.extra.get("row", 0), "message": err.message}])
        return job
    _set(job, status=ReportImportStatus.DONE, rows_done=len(rows), created_count=created, updated_count=updated,
         unchanged_count=unchanged, finished_at=timezone.now())
    logger.info("dispute_report_imported import_id=%s psp=%s created=%s updated=%s unchanged=%s", job.pk, job.psp,
                created, updated, unchanged)
    return job
