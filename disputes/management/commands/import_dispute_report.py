"""``manage.py import_dispute_report stripe|adyen FILE --user LEAD``: import a PSP's dispute report.

Every row is checked first; with any bad row nothing is imported and the rows are listed (exit 1).
Progress goes to stderr; importing the same file again changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from backoffice.errors import DomainError
from disputes.models import ReportImportStatus
from disputes.report_import import dispute_report_run, dispute_report_upload


class Command(BaseCommand):
    help = "Import a Stripe disputes export or an Adyen dispute report (CSV): all rows or none."

    def add_arguments(self, parser):
        parser.add_argument("psp", choices=["stripe", "adyen"])
        parser.add_argument("file", type=Path)
        parser.add_argument("--user", required=True, help="The team lead the import is recorded for.")

    def handle(self, *args, psp: str, file: Path, user: str, **options):
        lead = get_user_model().objects.filter(username=user, is_active=True).first()
        if lead is None:
            raise CommandError(f"No active user {user!r}.")
        try:
            content = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from exc
        try:
            job = dispute_report_upload(psp=psp, file_name=file.name, content=content, actor=lead)
        except DomainError as err:
            raise CommandError(err.message) from err

        def progress(phase: str, done: int, total: int) -> None:
            self.stderr.write(f"{phase}: {done}/{total} rows")

        job = dispute_report_run(import_id=job.pk, progress=progress)
        if job.status == ReportImportStatus.REFUSED:
            for error in job.errors:
                self.stderr.write(f"row {error['row']}: {error['message']}")
            raise CommandError(f"{file.name}: nothing imported ({len(job.errors)} error(s)).")
        self.stdout.write(f"{file.name}: {job.created_count} created, {job.updated_count} updated, "
                          f"{job.unchanged_count} unchanged (import {job.pk}).")
