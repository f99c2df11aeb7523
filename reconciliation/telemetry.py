"""Reconciliation metrics for /metrics (see ``backoffice.insight.registry``): break aging."""

from __future__ import annotations

from backoffice.insight.registry import business_metric


@business_metric("backoffice_reconciliation_open_breaks", "Open reconciliation breaks by currency and age "
                 "bucket (days since found).", labels=("currency", "age"))
def open_breaks():
    from .selectors import open_breaks_by_age

    return [((row["currency"], b["key"]), b["count"]) for row in open_breaks_by_age() for b in row["buckets"]]


@business_metric("backoffice_reconciliation_open_break_amount_minor", "Amount at stake in open reconciliation "
                 "breaks, in minor units, by currency and age bucket.", labels=("currency", "age"))
def open_break_amounts():
    from .selectors import open_breaks_by_age

    return [((row["currency"], b["key"]), b["amount"]) for row in open_breaks_by_age() for b in row["buckets"]]
