"""Importing a settlement report: validate the whole file, then import it once, matching every line.

1. **Once**: the file's SHA-256 (and, when the file holds one batch or payout, its id) must be new for
   the PSP; otherwise ``already_imported`` (409) and nothing changes.
2. **Validate** every row first, streaming (constant memory): any bad row refuses the whole file with
   the rows named (``invalid_file``, 400) and nothing is written.
3. **Import** in one transaction, in chunks: lines are stored and matched to our payments, refunds and
   disputes (``reconciliation.matching``); breaks are opened for what disagrees and closed
   (``auto_resolved``) where this report settles what an earlier one missed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from itertools import islice
from typing import IO, Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from backoffice.actors import actor_label
from backoffice.errors import Conflict, DomainError, InvalidInput, PermissionDenied
from backoffice.roles.predicates import is_system, is_team_lead

from .conf import setting
from .matching import MATCHABLE_KINDS, Matcher
from .models import LineMatch, Psp, SettlementImport, SettlementUpload, UploadStatus
from .parsing import ParsedLine, RowError, iter_rows, sha256_of

logger = logging.getLogger("reconciliation")

CHUNK = 2000
ERRORS_SHOWN = 50
PROGRESS_EVERY = 10_000

Progress = Callable[[str, int], None]


def _chunks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while True:
        chunk = list(islice(items, size))
        if not chunk:
            return
        yield chunk


def _refuse_if_imported(*, psp: str, sha256: str = "", batch_id: str = "") -> None:
    query = Q(psp=psp, sha256=sha256) if sha256 else Q(psp=psp, batch_id=batch_id)
    earlier = SettlementImport.objects.filter(query).first()
    if earlier is not None:
        what = "This file" if sha256 else f"Batch {batch_id}"
        raise Conflict(f"{what} was already imported (import #{earlier.pk}, {earlier.file_name}, "
                       f"{earlier.created_at:%Y-%m-%d %H:%M} UTC): nothing was changed.",
                       code="already_imported", extra={"import_id": earlier.pk})


def settlement_validate(*, psp: str, binary: IO[bytes], progress: Progress | None = None) -> dict[str, Any]:
    """Read every row once: ``{"lines", "errors", "error_count", "batch_id"}`` (errors: first 50, row-numbered)."""
    errors: list[dict[str, Any]] = []
    error_count = lines = 0
    batches: set[str] = set()
    for item in iter_rows(psp=psp, binary=binary):
        if isinstance(item, RowError):
            error_count += 1
            if len(errors) < ERRORS_SHOWN:
                errors.append(item.as_dict())
            continue
        lines += 1
        if len(batches) < 2 and item.batch_id:
            batches.add(item.batch_id)
        if progress is not None and lines % PROGRESS_EVERY == 0:
            progress("validating", lines)
    return {"lines": lines, "errors": errors, "error_count": error_count,
            "batch_id": next(iter(batches)) if len(batches) == 1 else ""}


def settlement_import(*, psp: str, binary: IO[bytes], file_name: str, actor: Any, source: str,
                      progress: Progress | None = None) -> SettlementImport:
    """Validate and import one report file as ``actor`` (a team lead, or the system for the command and folder)."""
    if not (is_team_lead(actor) or is_system(actor)):
        raise PermissionDenied("Only team leads import settlement reports.")
    if psp not in Psp.values:
        raise InvalidInput("Choose the report's PSP: stripe or adyen.", code="invalid_psp")
    sha256, size = sha256_of(binary)
    if size == 0:
        raise InvalidInput("The file is empty.", code="empty_file")
    if size > setting("SETTLEMENT_IMPORT_MAX_BYTES"):
        raise InvalidInput("The file is too large.", code="file_too_large")
    _refuse_if_imported(psp=psp, sha256=sha256)
    summary = settlement_validate(psp=psp, binary=binary, progress=progress)
    if summary["error_count"]:
        first = "; ".join(f"row {e['row']}: {e['message']}" for e in summary["errors"][:3])
        more = summary["error_count"] - min(3, len(summary["errors"]))
        raise InvalidInput(f"The file was not imported: {first}{f' (and {more} more)' if more > 0 else ''}.",
                           code="invalid_file",
                           extra={"errors": summary["errors"], "error_count": summary["error_count"]})
    if not summary["lines"]:
        raise InvalidInput("The file has a header but no rows.", code="no_rows")
    if summary["batch_id"]:
        _refuse_if_imported(psp=psp, batch_id=summary["batch_id"])
    if progress is not None:
        progress("validated", summary["lines"])
    try:
        with transaction.atomic():
            job = SettlementImport.objects.create(
                psp=psp, file_name=(file_name or "report.csv")[:255], sha256=sha256, batch_id=summary["batch_id"],
                imported_by=None if is_system(actor) else actor, source=source[:32])
            matcher = Matcher(job)
            done = 0
            rows = (item for item in iter_rows(psp=psp, binary=binary) if isinstance(item, ParsedLine))
            for chunk in _chunks(rows, CHUNK):
                matcher.add(chunk)
                done += len(chunk)
                if progress is not None and (done // CHUNK) % max(1, PROGRESS_EVERY // CHUNK) == 0:
                    progress("importing", done)
            matcher.finish()
            counts = job.lines.aggregate(
                lines=Count("id"), matchable=Count("id", filter=Q(kind__in=MATCHABLE_KINDS)),
                matched=Count("id", filter=Q(match=LineMatch.MATCHED)))
            job.line_count, job.matchable_count, job.matched_count = (counts["lines"], counts["matchable"],
                                                                      counts["matched"])
            job.break_count = job.breaks.count()
            job.auto_resolved_count = matcher.auto_resolved
            period = matcher.period
            job.period_start, job.period_end = period
            job.save(update_fields=["line_count", "matchable_count", "matched_count", "break_count",
                                    "auto_resolved_count", "period_start", "period_end"])
    except IntegrityError as exc:
        # The same file or batch imported concurrently: the unique constraints decided.
        if SettlementImport.objects.filter(Q(psp=psp, sha256=sha256)
                                           | Q(psp=psp, batch_id=summary["batch_id"] or "-")).exists():
            _refuse_if_imported(psp=psp, sha256=sha256)
            _refuse_if_imported(psp=psp, batch_id=summary["batch_id"])
        raise exc
    logger.info("settlement_imported import_id=%s psp=%s lines=%s matched=%s breaks=%s auto_resolved=%s actor=%s",
                job.pk, psp, job.line_count, job.matched_count, job.break_count, job.auto_resolved_count,
                actor_label(actor))
    return job


# ---------------------------------------------------------------- uploads on the page: stored, then a task


PROGRESS_SECONDS = 6 * 3600


def _progress_key(upload_id: int) -> str:
    return f"reconciliation:upload:{upload_id}"


def upload_progress(*, upload: SettlementUpload) -> dict[str, Any]:
    """``{"phase", "rows", "total"}`` of a running upload, as its task last reported it (shared cache)."""
    return cache.get(_progress_key(upload.pk)) or {"phase": "queued", "rows": 0, "total": None}


def settlement_upload(*, psp: str, upload: Any, actor: Any) -> SettlementUpload:
    """A team lead's upload: the file is stored and ``reconciliation.run_upload`` imports it after commit."""
    if not is_team_lead(actor):
        raise PermissionDenied("Only team leads import settlement reports.")
    if psp not in Psp.values:
        raise InvalidInput("Choose the report's PSP: stripe or adyen.", code="invalid_psp")
    if upload is None:
        raise InvalidInput("Choose a CSV file.", code="file_required")
    if not upload.size:
        raise InvalidInput("The file is empty.", code="empty_file")
    if upload.size > setting("SETTLEMENT_IMPORT_MAX_BYTES"):
        raise InvalidInput("The file is too large.", code="file_too_large")
    from backoffice.queueing import enqueue_on_commit

    from .tasks import run_upload

    job = SettlementUpload(psp=psp, file_name=(upload.name or "report.csv")[:255], uploaded_by=actor)
    job.file.save("report.csv", upload, save=False)
    job.save()
    enqueue_on_commit(run_upload, job.pk)
    return job


def settlement_upload_run(*, upload_id: int) -> SettlementUpload | None:
    """Import one stored upload (once: the first run claims it), recording progress, result or refusal."""
    if not SettlementUpload.objects.filter(pk=upload_id, status=UploadStatus.QUEUED).update(
            status=UploadStatus.RUNNING):
        return SettlementUpload.objects.filter(pk=upload_id).first()
    job = SettlementUpload.objects.select_related("uploaded_by").get(pk=upload_id)
    state = {"phase": "validating", "rows": 0, "total": None}

    def progress(phase: str, rows: int) -> None:
        if phase == "validated":
            state.update(phase="importing", rows=0, total=rows)
        else:
            state.update(phase=phase, rows=rows)
        cache.set(_progress_key(upload_id), dict(state), PROGRESS_SECONDS)

    try:
        with job.file.open("rb") as binary:
            imported = settlement_import(psp=job.psp, binary=binary, file_name=job.file_name, actor=job.uploaded_by,
                                         source="upload", progress=progress)
    except DomainError as err:
        SettlementUpload.objects.filter(pk=upload_id).update(
            status=UploadStatus.REFUSED, error_code=err.code[:64], error_message=err.message[:1000],
            errors=err.extra.get("errors", []), finished_at=timezone.now())
    else:
        SettlementUpload.objects.filter(pk=upload_id).update(status=UploadStatus.DONE, settlement_import=imported,
                                                             finished_at=timezone.now())
    cache.delete(_progress_key(upload_id))
    return SettlementUpload.objects.get(pk=upload_id)
