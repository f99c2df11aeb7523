"""``manage.py import_settlement --psp stripe|adyen FILE``: validate and import one settlement report."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from backoffice.errors import DomainError
from reconciliation.imports import settlement_import
from reconciliation.models import RECONCILIATION, Psp


class Command(BaseCommand):
    help = "Import a PSP settlement report (Stripe itemized balance change, Adyen settlement details) as CSV."

    def add_arguments(self, parser):
        parser.add_argument("--psp", required=True, choices=Psp.values)
        parser.add_argument("file", type=Path)

    def handle(self, *args, **options):
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")

        def progress(phase: str, rows: int) -> None:
            print(f"{phase}: {rows} rows", file=sys.stderr, flush=True)

        try:
            with path.open("rb") as binary:
                job = settlement_import(psp=options["psp"], binary=binary, file_name=path.name, actor=RECONCILIATION,
                                        source="command", progress=progress)
        except DomainError as err:
            if err.code == "already_imported":
                self.stdout.write(f"{err.message}")
                return
            lines = [f"{err.message} ({err.code})"]
            lines += [f"  row {e['row']}: {e['message']}" for e in err.extra.get("errors", [])]
            raise CommandError("\n".join(lines)) from err
        self.stdout.write(
            f"Imported #{job.pk}: {job.line_count} lines, {job.matched_count} matched, "
            f"{job.break_count} breaks opened, {job.auto_resolved_count} breaks closed.")
