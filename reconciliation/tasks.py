"""Periodic reconciliation work: import the reports dropped in a folder, remind about ageing breaks.

* ``reconciliation.import_folder`` reads ``SETTLEMENT_IMPORT_DIR/stripe/*.csv`` and
  ``SETTLEMENT_IMPORT_DIR/adyen/*.csv``; each file is imported (as ``system:reconciliation``) and moved
  to ``done/`` — or to ``refused/`` with a ``.errors.json`` naming the rows. A file already imported
  goes to ``done/`` too.
* ``reconciliation.send_break_reminders`` tells the assignee (else the team leads) once per break and
  threshold when an open break gets ``RECONCILIATION_REMINDER_AGE_DAYS`` old (3, 8, 30 by default).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

from celery import shared_task
from django.urls import reverse
from django.utils import timezone

from backoffice.errors import DomainError
from backoffice.notifications.services import AlertSpec, alerts_claim, team_leads
from backoffice.scheduling import ScanResult, TimeBudget, batch_size

from .conf import import_dir, setting
from .imports import settlement_import
from .models import RECONCILIATION, Psp
from .selectors import breaks_due_for_reminder

logger = logging.getLogger("backoffice.tasks")


def _move(path: Path, folder: str) -> Path:
    target_dir = path.parent / folder
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    if target.exists():
        target = target_dir / f"{path.stem}-{timezone.now():%Y%m%d%H%M%S}{path.suffix}"
    path.rename(target)
    return target


def import_folder_now(*, folder: Path | None = None) -> dict[str, int]:
    """Import every report waiting in the folder; ``{"imported", "already", "refused"}``."""
    folder = folder or import_dir()
    counts = {"imported": 0, "already": 0, "refused": 0}
    if folder is None or not folder.is_dir():
        return counts
    for psp in Psp.values:
        for path in sorted((folder / psp).glob("*.csv")) if (folder / psp).is_dir() else []:
            try:
                with path.open("rb") as binary:
                    settlement_import(psp=psp, binary=binary, file_name=path.name, actor=RECONCILIATION,
                                      source="folder")
            except DomainError as err:
                if err.code == "already_imported":
                    counts["already"] += 1
                    _move(path, "done")
                    continue
                counts["refused"] += 1
                moved = _move(path, "refused")
                moved.with_suffix(".errors.json").write_text(json.dumps(
                    {"detail": err.message, "code": err.code, "errors": err.extra.get("errors", [])}, indent=2))
                logger.warning("settlement_file_refused file=%s code=%s", path.name, err.code)
                continue
            counts["imported"] += 1
            _move(path, "done")
    return counts


@shared_task(name="reconciliation.run_upload", acks_late=True)
def run_upload(upload_id: int) -> str:
    """Import a report a team lead uploaded on the page (ids in; a second run finds it claimed)."""
    from .imports import settlement_upload_run

    job = settlement_upload_run(upload_id=upload_id)
    return job.status if job is not None else "missing"


@shared_task(name="reconciliation.import_folder")
def import_folder() -> dict[str, int]:
    return import_folder_now()


def send_break_reminders_now(*, now: datetime | None = None, limit: int | None = None,
                             budget_seconds: float | None = None) -> ScanResult:
    now = now or timezone.now()
    size = batch_size(limit)
    budget = TimeBudget(budget_seconds)
    result = ScanResult("reconciliation.send_break_reminders")
    thresholds = tuple(setting("RECONCILIATION_REMINDER_AGE_DAYS"))
    leads = None
    after = 0
    while True:
        rows = breaks_due_for_reminder(now=now, thresholds=thresholds, after_id=after, limit=size + 1)
        batch = rows[:size]
        if not batch:
            break
        result.batches += 1
        after = batch[-1].pk
        if leads is None and any(b.assignee_id is None for b in batch):
            leads = team_leads()
        claimed = alerts_claim(alerts=[AlertSpec(
            case_type="break", case_id=b.pk, case_reference=b.reference or "", kind="reminder",
            due_at=b.created_at, offset_days=b.reminder_age,
            recipients=[b.assignee] if b.assignee_id else (leads or []),
            title=f"{b.reference}: break open for {b.reminder_age} days",
            body=f"{b.get_kind_display()} on {b.get_psp_display()} {b.psp_reference}, "
                 f"{b.amount_minor} {b.currency} (minor units), found {b.created_at:%Y-%m-%d}.",
            url=reverse("reconciliation:detail", args=[b.pk]),
        ) for b in batch])
        result.acted += len(claimed)
        result.skipped += len(batch) - len(claimed)
        if len(rows) <= size:
            break
        if budget.spent:
            result.more = True
            break
    result.seconds = budget.elapsed
    return result.log()


@shared_task(name="reconciliation.send_break_reminders", acks_late=True)
def send_break_reminders() -> dict:
    return send_break_reminders_now().as_dict()
