"""Run the schedule in-process: the demo's stand-in for Celery beat and a worker when REDIS_URL is unset.

It drives the very scheduler ``celery beat`` runs (``backoffice.scheduling.Scheduler``) over the same
django-celery-beat rows and the same task registry; with no broker, Celery runs each task right
here. A schedule naming an unknown task is logged as an error and counted (see /healthz).
"""

from __future__ import annotations

import logging
import signal
import time

from celery import current_app
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from backoffice.scheduling import Scheduler, recycle_connections

logger = logging.getLogger("backoffice.scheduling")


class Command(BaseCommand):
    help = ("Run the periodic tasks in-process from the django-celery-beat schedule (the demo without Redis): "
            "what is due now, or every enabled schedule with --force; --loop keeps running.")

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="keep running, like celery beat")
        parser.add_argument("--every", type=float, default=5.0,
                            help="with --loop: at most this many seconds between looks at the schedule")
        parser.add_argument("--force", action="store_true", help="first run every enabled schedule now")

    def handle(self, *args, **options):
        app = current_app._get_current_object()
        if not app.conf.task_always_eager:
            raise CommandError("REDIS_URL is set: run the schedule with Celery beat and a worker "
                               "(make services), not in-process.")
        self._stop = False
        signal.signal(signal.SIGTERM, self._on_term)
        scheduler = Scheduler(app=app, max_interval=max(0.5, options["every"]), kind="in-process")
        try:
            if options["force"]:
                self._report(scheduler.run_all_now())
            elif not options["loop"]:
                self._report(scheduler.run_due())
            scheduler.ran.clear()
            while options["loop"] and not self._stop:
                try:
                    delay = scheduler.tick()
                except DatabaseError as exc:  # the database went away: wait, reconnect, go on
                    logger.error("scheduler_database_error error=%s: retrying", exc.__class__.__name__)
                    recycle_connections()
                    delay = options["every"]
                if scheduler.ran:
                    self._report(scheduler.ran)
                    scheduler.ran.clear()
                if delay > 0:
                    time.sleep(min(delay, options["every"]))
        finally:
            scheduler.close()

    def _on_term(self, signum, frame):
        self._stop = True

    def _report(self, ran: list[str]) -> None:
        if ran:
            self.stdout.write(f"ran: {', '.join(ran)}")
            self.stdout.flush()
