"""``manage.py simulate_operations``: a year of operations on a frozen clock, with faults; prints what
was due and what happened, and exits non-zero when anything happened twice or not at all.

By default it builds a scratch database next to the configured one (``<name>_simulation``),
migrates it, runs there and drops it (``--keep`` keeps it); with ``DATABASE_OWNER_URL`` set, the owner
creates, migrates and drops it and the run uses ``DATABASE_URL``'s role, as production does.
``--in-place`` runs on the configured database itself, and refuses one that already holds disputes or refunds.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from backoffice.dbroles import connected_as, grant_app_role, owner_settings


class Command(BaseCommand):
    help = ("Simulate a year of disputes and refunds on a frozen clock with the real periodic tasks and injected "
            "faults; print reminders due vs sent, escalations, expiries, refund submissions, journal check.")

    def add_arguments(self, parser):
        parser.add_argument("--disputes", type=int, default=10_000)
        parser.add_argument("--refunds", type=int, default=None, help="default: a fifth of --disputes")
        parser.add_argument("--days", type=int, default=365, help="arrivals are spread over this many days")
        parser.add_argument("--tail-days", type=int, default=80, help="after the last arrival")
        parser.add_argument("--step-hours", type=float, default=4.0)
        parser.add_argument("--seed", type=int, default=20260101)
        parser.add_argument("--start", default="2026-01-05", help="the simulated first day (UTC)")
        parser.add_argument("--packets", type=int, default=20, help="submissions with a rendered evidence packet")
        parser.add_argument("--worker-steps", type=int, default=None,
                            help="run only this many steps (mid-way) through the Celery worker; default: all")
        parser.add_argument("--no-worker", action="store_true", help="everything in-process (no Redis needed)")
        parser.add_argument("--broker-outage-hours", type=float, default=6.0)
        parser.add_argument("--smtp-outage-hours", type=float, default=24.0)
        parser.add_argument("--no-kill", action="store_true", help="do not kill a worker process mid-task")
        parser.add_argument("--no-db-drop", action="store_true", help="do not drop the database connection")
        parser.add_argument("--in-place", action="store_true",
                            help="use the configured database (it must hold no disputes or refunds)")
        parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")

    def handle(self, *args, **options):
        from backoffice.simulation.engine import Config, Simulation

        if connection.vendor != "postgresql":
            raise CommandError("simulate_operations needs PostgreSQL: set DATABASE_URL=postgres://…")
        config = Config(
            disputes=options["disputes"], refunds=options["refunds"], days=options["days"],
            tail_days=options["tail_days"], step_hours=options["step_hours"], seed=options["seed"],
            start=datetime.fromisoformat(options["start"]).replace(tzinfo=UTC), packets=options["packets"],
            worker=not options["no_worker"], worker_steps=options["worker_steps"],
            kill_worker=not options["no_kill"], broker_outage_hours=options["broker_outage_hours"],
            smtp_outage_hours=options["smtp_outage_hours"], drop_database_connection=not options["no_db_drop"],
            progress=lambda text: (self.stderr.write(f"… {text}"), self.stderr.flush()),
        )
        scratch = None
        if options["in_place"]:
            self._refuse_real_data()
        else:
            scratch = self._scratch_database()
        try:
            report = Simulation(config).run()
        finally:
            if scratch is not None and not options["keep"]:
                self._drop_scratch_database(scratch)
        self.stdout.write(report.text())
        self.stdout.flush()
        if report.problems:
            self.stderr.write(f"{len(report.problems)} check(s) failed")
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS("Every check passed."))

    def _refuse_real_data(self) -> None:
        from disputes.models import Dispute
        from refunds.models import Refund

        if Dispute.objects.exists() or Refund.objects.exists():
            raise CommandError("This database already holds disputes or refunds: --in-place runs only on an empty "
                               "one. Without --in-place a scratch database is used.")

    def _scratch_database(self) -> str:
        """Create and migrate ``<name>_simulation``; return the original name (for dropping it afterwards).
        With ``DATABASE_OWNER_URL`` the owner creates and migrates it and grants the app's role, which the
        run then uses, as in production (the app's role may not create databases)."""
        original = connection.settings_dict["NAME"]
        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"{original}_simulation"
        self.stderr.write(f"… creating the scratch database {original}_simulation")
        with self._as_owner() as app_role:
            connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
            if app_role:
                grant_app_role(connection, role=app_role)
        return original

    def _drop_scratch_database(self, original: str) -> None:
        with self._as_owner():
            connection.creation.destroy_test_db(original, verbosity=0)

    @contextmanager
    def _as_owner(self):
        """Connected as ``DATABASE_OWNER_URL``'s role when it is another one; yields the app's role then."""
        owner_url = getattr(settings, "DATABASE_OWNER_URL", "")
        app_role = connection.settings_dict.get("USER", "")
        owner = owner_settings(owner_url) if owner_url else None
        if owner is None or not app_role or owner["USER"] == app_role:
            yield ""
            return
        with connected_as(connection, owner):
            yield app_role
