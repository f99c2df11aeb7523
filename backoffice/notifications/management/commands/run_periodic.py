"""Run the periodic tasks in-process — the demo's stand-in for Celery beat when REDIS_URL is unset.

Reads the same django-celery-beat schedule (enabled tasks and their intervals), runs what is due,
and stamps ``last_run_at`` so /healthz shows the age of the last run.
"""

from __future__ import annotations

import logging
import time

from celery import current_app
from django.core.management.base import BaseCommand
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

logger = logging.getLogger("backoffice.tasks")


def run_due(*, force: bool = False) -> list[str]:
    ran: list[str] = []
    now = timezone.now()
    for periodic in PeriodicTask.objects.filter(enabled=True).select_related("interval"):
        task = current_app.tasks.get(periodic.task)
        if task is None:
            continue
        due = force or periodic.last_run_at is None or periodic.interval is None or (
            now - periodic.last_run_at).total_seconds() >= periodic.interval.every * {
                "seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}.get(periodic.interval.period, 60)
        if not due:
            continue
        task.apply()
        PeriodicTask.objects.filter(pk=periodic.pk).update(last_run_at=timezone.now(),
                                                           total_run_count=periodic.total_run_count + 1)
        ran.append(periodic.task)
    return ran


class Command(BaseCommand):
    help = "Run due periodic tasks in-process (the demo without Redis); --loop keeps running."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="keep running, checking every --every seconds")
        parser.add_argument("--every", type=int, default=30)
        parser.add_argument("--force", action="store_true", help="run every enabled task now")

    def handle(self, *args, **options):
        while True:
            ran = run_due(force=options["force"])
            if ran:
                self.stdout.write(f"ran: {', '.join(ran)}")
            if not options["loop"]:
                return
            time.sleep(options["every"])
