"""The demo's settlement reports: generated from the demo ledger, every kind of break planted, idempotent."""

from __future__ import annotations

import random

from disputes import demo as disputes_demo
from invoices import demo as ledger_demo
from reconciliation import demo
from reconciliation.models import Break, BreakKind, SettlementImport


def test_the_demo_reports_plant_every_kind_of_break_once(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    ledger_demo.seed(rng=random.Random(1))
    disputes_demo.seed(rng=random.Random(2))  # chargebacks in the period: the reports settle them

    demo.seed(rng=random.Random(2))

    jobs = list(SettlementImport.objects.filter(source="demo").order_by("psp"))
    assert [j.psp for j in jobs] == ["adyen", "stripe"]
    for job in jobs:
        kinds = sorted(Break.objects.filter(psp=job.psp).values_list("kind", flat=True))
        assert kinds == sorted([*BreakKind.values, "missing_in_ledger", "not_settled", "amount_mismatch"]), job.psp
        assert job.match_rate is not None and job.match_rate > 90
        assert (tmp_path / "settlement-demo" / job.file_name).exists()
    breaks = Break.objects.count()
    demo.seed(rng=random.Random(2))
    assert SettlementImport.objects.count() == 2 and Break.objects.count() == breaks
