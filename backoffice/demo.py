"""What the demo seeding of every app shares: the demo users, and a clock set to when each step happened.

The demo plays its cases through the same services people and the PSPs' webhooks call. A case that
should look six weeks old is played on ``DemoClock``: freezegun's clock, frozen at the moment each
step happened. Services, models and the journal all read ``django.utils.timezone.now()``, so every
row carries the date it would have had, and the journal's chains are the services' own. While the
clock runs, tasks the services hand to Celery on commit (a refund sent to the PSP, evidence sent to
the PSP) run in-process at that same moment, and the PSP is the sandbox. Log lines keep real time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.test.utils import override_settings

from backoffice.errors import DomainError

logger = logging.getLogger("backoffice.demo")

DEMO_PASSWORD = "demo"  # noqa: S105 - demo data only, documented in the README
DEMO_USERS = [
    # username, groups, superuser
    ("specialist", ["billing_specialist"], False),
    ("specialist2", ["billing_specialist"], False),
    ("lead", ["team_lead"], False),
    ("lead2", ["team_lead"], False),
    ("auditor", ["finance_auditor"], False),
    ("admin", ["team_lead"], True),
]


@dataclass(frozen=True)
class People:
    """The demo's workers: two specialists and two team leads."""

    specialists: tuple[Any, Any]
    leads: tuple[Any, Any]

    @property
    def workers(self) -> tuple[Any, ...]:
        return self.specialists + self.leads


def demo_people() -> People | None:
    """The demo users who work cases, or None when ``seed_demo`` has not created them yet."""
    names = ("specialist", "specialist2", "lead", "lead2")
    found = {u.username: u for u in get_user_model().objects.filter(username__in=names)}
    if len(found) < len(names):
        return None
    return People(specialists=(found["specialist"], found["specialist2"]), leads=(found["lead"], found["lead2"]))


def demo_start(*, what: str, already_seeded: bool) -> People | None:
    """The demo's workers to seed ``what`` with; None (and a log line) when it is already seeded or the
    demo users are missing."""
    if already_seeded:
        logger.info("demo %s already present; nothing to do", what)
        return None
    people = demo_people()
    if people is None:
        logger.warning("demo users are missing: run manage.py seed_demo (it creates them first)")
    return people


class DemoClock:
    """``timezone.now()`` as it was at a moment of the demo's past; ``at(moment)`` moves it (forwards only)."""

    def __init__(self, freezer: Any, start: datetime):
        self._freezer = freezer
        self.now = start

    def at(self, moment: datetime) -> datetime:
        """Set the clock to ``moment`` (a moment before the current one is taken as the current one)."""
        if moment > self.now:
            self._freezer.move_to(moment)
            self.now = moment
        return self.now


@contextmanager
def demo_clock(start: datetime) -> Iterator[DemoClock]:
    """Freeze the clock at ``start`` for the block; tasks run in-process and refunds go to the sandbox."""
    from celery import current_app
    from freezegun import freeze_time

    conf = current_app.conf
    eager = conf.task_always_eager
    freezer = freeze_time(start, ignore=["logging"])
    frozen = freezer.start()
    conf.task_always_eager = True
    try:
        with override_settings(PAYMENT_GATEWAY="sandbox"):
            yield DemoClock(frozen, start)
    finally:
        conf.task_always_eager = eager
        freezer.stop()


Step = tuple[datetime, Any, str, Callable[[], Any]]  # (when, which case, action name, the service call)


def demo_play(steps: list[Step], *, what: str) -> int:
    """Play every step in time order on the demo clock (a case's steps at one moment keep their order).

    A step a service refuses stops its case there, with a warning: the demo's plan and the services
    disagree. Returns how many cases stopped.
    """
    ordered = sorted(steps, key=lambda step: step[0])
    stopped: set[Any] = set()
    if not ordered:
        return 0
    with demo_clock(ordered[0][0]) as clock:
        for at, case, action, call in ordered:
            if case in stopped:
                continue
            clock.at(at)
            try:
                call()
            except DomainError as err:
                stopped.add(case)
                logger.warning("demo %s %s stopped at %s: %s (%s)", what, case, action, err.message, err.code)
    return len(stopped)
