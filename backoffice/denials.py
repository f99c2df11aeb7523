"""Every refusal recorded once, outside the caller's transaction.

A refused action (permission, state, concurrency, business rule) leaves one ``DeniedAttempt`` row
for the auditors. The refused work itself is rolled back, often together with transactions the
caller opened around it (a request with an ``Idempotency-Key``, a service that locked the payment
first, ``ATOMIC_REQUESTS``): a row written in those transactions would be rolled back with them.
So the row is written where no rollback can reach it:

* outside any transaction: on the usual connection, in autocommit;
* inside one (on PostgreSQL): on a short-lived connection of its own with the same settings,
  which commits at once, whatever the caller's transaction does afterwards. The row references
  no other row by a constraint, so it never waits for the caller's uncommitted rows.

On SQLite (the demo) a second connection would wait for the first one's write lock, so the row is
written on the usual connection there: a refusal inside a transaction rolled back later is lost.

Each refusal is recorded once: the error is marked, and an outer layer (the API, a page, a
service around the transition service) that meets it again records nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.models import Model
from django.db.models.sql import InsertQuery
from django.db.transaction import TransactionManagementError

from backoffice.actors import actor_label, actor_user_id
from backoffice.context import current_request_context
from backoffice.errors import DomainError, NotFound
from backoffice.journal.models import DeniedAttempt

logger = logging.getLogger("backoffice.journal")

OWN_CONNECTION_ALIAS = "denials"
_RECORDED = "_denial_recorded"
# How many rows went through a connection of their own (the test suite removes them after tests
# whose own transaction is rolled back, since they were committed behind it).
own_connection_writes = 0


def case_type_of(model: type[Model] | Model) -> str:
    return getattr(model, "CASE_TYPE", None) or model._meta.model_name


def _case_id(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value) if value is not None else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


def denial_record(
    err: BaseException,
    *,
    case_type: str,
    action: str,
    actor: Any,
    case_id: Any = None,
    case_reference: str = "",
    context: dict[str, Any] | None = None,
) -> None:
    """Record ``err`` as a refused ``action`` by ``actor`` (once; a ``NotFound`` is not a refusal)."""
    if isinstance(err, NotFound) or getattr(err, _RECORDED, False):
        return
    setattr(err, _RECORDED, True)
    code = getattr(err, "code", "") or "permission_denied"
    message = getattr(err, "message", "") or str(err)
    logger.info("action_denied case_type=%s case_id=%s action=%s actor=%s code=%s",
                case_type, case_id, action, actor_label(actor), code)
    row = DeniedAttempt(
        case_type=case_type,
        case_id=_case_id(case_id),
        case_reference=case_reference or "",
        action=action[:64],
        actor_id=actor_user_id(actor),
        actor_label=actor_label(actor)[:150],
        code=code[:64],
        message=message[:2000],
        context={**current_request_context(), **(context or {})},
    )
    try:
        _save_outside_transaction(row)
    except (DatabaseError, TransactionManagementError):
        # The refusal itself still reaches the user; the log line above keeps it for the auditors.
        logger.exception("denial_not_recorded case_type=%s case_id=%s action=%s", case_type, case_id, action)


@dataclass
class RefusalScope:
    """What a ``refusals_recorded`` block knows about its case; set ``case`` once it is loaded."""

    case: Any = None
    pk: Any = None


@contextmanager
def refusals_recorded(
    *,
    model: type[Model],
    action: str,
    actor: Any,
    case: Any = None,
    pk: Any = None,
    context: dict[str, Any] | None = None,
) -> Iterator[RefusalScope]:
    """Record a ``DomainError`` raised inside the block as a refusal of ``action``, then re-raise it."""
    scope = RefusalScope(case=case, pk=pk)
    try:
        yield scope
    except DomainError as err:
        found = scope.case
        denial_record(
            err,
            case_type=case_type_of(model),
            action=action,
            actor=actor,
            case_id=found.pk if found is not None else scope.pk,
            case_reference=getattr(found, "reference", "") or "",
            context=context,
        )
        raise


def _in_callers_transaction(connection: Any) -> bool:
    """Whether a rollback could still undo a row written on ``connection`` now (a test's own
    wrapping transaction does not count: the suite rolls it back after every test anyway)."""
    return connection.in_atomic_block and not all(
        getattr(block, "_from_testcase", False) for block in connection.atomic_blocks
    )


def _save_outside_transaction(row: DeniedAttempt) -> None:
    global own_connection_writes
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql" or not _in_callers_transaction(connection):
        row.save(force_insert=True, using=DEFAULT_DB_ALIAS)
        return
    own = connection.__class__(dict(connection.settings_dict), alias=OWN_CONNECTION_ALIAS)
    try:
        query = InsertQuery(DeniedAttempt)
        query.insert_values([f for f in DeniedAttempt._meta.concrete_fields if not f.primary_key], [row])
        # autocommit: the row is committed when the statement returns
        (row.pk,) = query.get_compiler(connection=own).execute_sql(returning_fields=[DeniedAttempt._meta.pk])[0]
        own_connection_writes += 1
    finally:
        own.close()
