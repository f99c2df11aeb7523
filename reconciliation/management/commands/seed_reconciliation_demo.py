"""``manage.py seed_reconciliation_demo``: the demo settlement reports (after ``seed_demo``; idempotent)."""

from __future__ import annotations

import random

from django.core.management.base import BaseCommand

from reconciliation.demo import seed
from reconciliation.models import SettlementImport


class Command(BaseCommand):
    help = "Generate and import one settlement report per PSP from the demo ledger, with planted breaks."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=20261130)

    def handle(self, *args, **options):
        seed(rng=random.Random(options["seed"]))
        for job in SettlementImport.objects.filter(source="demo").order_by("pk"):
            self.stdout.write(f"{job.get_psp_display()}: {job.file_name} — {job.line_count} lines, "
                              f"{job.matched_count} matched, {job.break_count} breaks")
