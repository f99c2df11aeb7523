"""Reconciliation settings, each overridable in Django settings (or, for the folder, the environment)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Our payments and succeeded refunds not settled by the PSP this many days after capture are breaks.
    "RECONCILIATION_NOT_SETTLED_AFTER_DAYS": 5,
    # A break's internal due date: this many days after it was found.
    "RECONCILIATION_BREAK_DUE_DAYS": 7,
    # Reminders when an open break gets this many days old (to the assignee, else the team leads).
    "RECONCILIATION_REMINDER_AGE_DAYS": (3, 8, 30),
    # Matching by merchant reference, amount and currency: the capture within this many days of the line.
    "RECONCILIATION_MATCH_WINDOW_DAYS": 7,
    # Expected PSP fee on a charge, in percent of its gross: outside [min, max] is a break.
    "RECONCILIATION_FEE_BAND_PERCENT": (0.0, 5.0),
    # Largest file accepted (bytes) and the rows validated between progress reports.
    "SETTLEMENT_IMPORT_MAX_BYTES": 512 * 1024 * 1024,
}


def setting(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])


def import_dir() -> Path | None:
    """The folder the periodic task reads settlement reports from (``SETTLEMENT_IMPORT_DIR``), or None."""
    value = getattr(settings, "SETTLEMENT_IMPORT_DIR", None) or os.environ.get("SETTLEMENT_IMPORT_DIR", "")
    return Path(value) if value else None
