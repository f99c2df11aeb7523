"""Imported by the simulation's Celery worker (``celery worker --include backoffice.simulation.worker_hooks``):
each task runs at the simulated time the simulation has published in Redis, while Celery, kombu and
redis-py keep real time for their own timeouts and heartbeats."""

from __future__ import annotations

from celery import signals

from .faults import SimState

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
