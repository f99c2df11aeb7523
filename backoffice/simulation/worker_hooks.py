"""Imported by the simulation's Celery worker (``celery worker --include backoffice.simulation.worker_hooks``):
each task runs at the simulated time the simulation has published in Redis, while Celery, kombu and
redis-py keep real time for their own timeouts and heartbeats. The worker consumes only the run's
queue, so that queue is also its default: a task sent by a task (the refund sweeper's re-sends and
status look-ups) must reach this worker, not the default ``celery`` queue nobody here consumes.
When the simulation has armed the database drop for a task, the worker terminates its own database
session just before running it."""

from __future__ import annotations

import os

from celery import signals

from backoffice.celery import app

from .faults import ENV_QUEUE, SimState, terminate_session

if os.environ.get(ENV_QUEUE):
    app.conf.task_default_queue = os.environ[ENV_QUEUE]

IGNORE = ["celery", "kombu", "billiard", "redis", "amqp", "vine", "click"]
_clock: dict[str, object] = {}


@signals.task_prerun.connect(dispatch_uid="backoffice.simulation.clock")
def _at_simulated_time(**kwargs) -> None:
    from freezegun import freeze_time

    state = _clock.get("state") or SimState.from_env()
    _clock["state"] = state
    moment = state.now() if state is not None else None
    if moment is None:
        return
    frozen = _clock.get("frozen")
    if frozen is None:
        _clock["frozen"] = freeze_time(moment, ignore=IGNORE).start()
    else:
        frozen.move_to(moment)


@signals.worker_process_init.connect(dispatch_uid="backoffice.simulation.db_drop_hook")
def _connect_db_drop(**kwargs) -> None:
    """In each pool process, after Celery's Django fix-up has connected its own ``task_prerun`` (which closes
    an obsolete connection): the drop must come last, so the task itself meets the terminated session."""
    signals.task_prerun.connect(_drop_db_session, dispatch_uid="backoffice.simulation.db_drop")


def _drop_db_session(sender=None, **kwargs) -> None:
    state = _clock.get("state") or SimState.from_env()
    name = getattr(sender, "name", "")
    if state is not None and name and state.claim_db_drop(name):
        from django.db import connection

        state.record_db_drop(name, terminate_session(connection))
