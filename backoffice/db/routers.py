"""Read replica routing: dashboards, audit search, exports and reports may read from a streaming standby.

With ``DATABASE_REPLICA_URL`` set, settings add a ``replica`` database and this router. Reads go to
the replica only where the code opted in with ``replica_reads()`` (a decorator or a context manager)
*and* no transaction is open on the primary: a read inside ``transaction.atomic()`` (a service, a
locked row, anything that must see its own writes) stays on the primary, and every write goes to the
primary. Everything else reads the primary: a case page right after a transition must show it.

A standby lags its primary by a little (usually milliseconds): the opted-in pages are the ones where
that is acceptable (KPIs, the audit trail of past events, exports). Without ``DATABASE_REPLICA_URL``
nothing changes: there is no ``replica`` alias and every query goes to ``default``.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

REPLICA_DB_ALIAS = "replica"
_replica_allowed: contextvars.ContextVar[bool] = contextvars.ContextVar("replica_reads", default=False)


def replica_configured() -> bool:
    # REPLICA_READS is False in the test settings: the suite's own transactions must see their rows;
    # tests/backoffice/test_replica.py switches it on against the real standby.
    return REPLICA_DB_ALIAS in settings.DATABASES and getattr(settings, "REPLICA_READS", True)


@contextmanager
def replica_reads() -> Iterator[None]:
    """Inside: reads outside any transaction may go to the replica."""
    token = _replica_allowed.set(True)
    try:
        yield
    finally:
        _replica_allowed.reset(token)


def use_replica(view: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator for a view (or any function) whose reads may come from the replica.

    A streamed response's body is produced after the view returns: it is wrapped so that its rows
    are read under the same rule.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with replica_reads():
            response = view(*args, **kwargs)
        if getattr(response, "streaming", False):
            response.streaming_content = _replica_iter(response.streaming_content)
        return response

    return wrapper


def _replica_iter(chunks):
    iterator = iter(chunks)
    while True:
        with replica_reads():
            try:
                chunk = next(iterator)
            except StopIteration:
                return
        yield chunk


class ReplicaRouter:
    """Writes and transactional reads on ``default``; opted-in reads outside a transaction on ``replica``."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        if (
            _replica_allowed.get()
            and replica_configured()
            and not connections[DEFAULT_DB_ALIAS].in_atomic_block
        ):
            return REPLICA_DB_ALIAS
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # the replica is a copy of the primary: same rows, same ids

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS
