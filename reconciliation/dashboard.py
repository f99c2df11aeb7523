"""Reconciliation figures for /dashboard/, registered as the break case type's ``dashboard_sections``."""

from __future__ import annotations

from typing import Any

from backoffice.money import format_minor

from .filters import AGE_BUCKETS
from .selectors import import_match_rates, open_breaks_by_age


def sections() -> list[dict[str, Any]]:
    imports = import_match_rates(limit=20)
    aging = open_breaks_by_age()
    return [
        {"name": "reconciliation_match", "title": "Reconciliation: match rate per settlement report",
         "definition": "Matched ÷ the report's charge, refund and dispute lines; the latest 20 imports.",
         "header": ["imported (UTC)", "PSP", "file", "lines", "to match", "matched", "match rate", "breaks opened",
                    "breaks closed"],
         "rows": [[f"{job.created_at:%Y-%m-%d %H:%M}", job.get_psp_display(), job.file_name, job.line_count,
                   job.matchable_count, job.matched_count,
                   "—" if job.match_rate is None else f"{job.match_rate} %", job.break_count,
                   job.auto_resolved_count] for job in imports]},
        {"name": "reconciliation_aging", "title": "Reconciliation: open breaks by age (per currency)",
         "definition": "Open, investigating and write-off-requested breaks by days since they were found: "
                       "count and amount at stake, never summed across currencies.",
         "header": ["currency", *[f"{label}" for _, label, *_ in AGE_BUCKETS]],
         "rows": [[row["currency"], *[f"{b['count']} · {format_minor(b['amount'], row['currency'])}"
                                      for b in row["buckets"]]] for row in aging]},
    ]
