"""The one transition service every case type uses, and the description each workflow gives it.

A workflow declares each of its transitions once, at module level, as a ``Transition``: which
model and FSM transition, the guards that may refuse it, the effects that follow it under the same
lock, and what its journal row says. ``run_transition(spec, pk=…, actor=…)`` then takes it:

lock the row → the policy's refusal, if the description has one → this user's permission on this
object → the expected state → the FSM source state → guards → the django-fsm-2 transition → save →
effects → journal row, all in one transaction. Refusals raise ``backoffice.errors`` with stable
codes and are recorded as denied attempts (once, outside the caller's transaction), as are lock
and serialization failures (``concurrent_change``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

import django_fsm
from django.db import DatabaseError, OperationalError, connection, transaction
from django.db.models import Model

from backoffice.actors import actor_label
from backoffice.context import bind_log_context
from backoffice.denials import case_type_of, denial_record
from backoffice.errors import ConcurrentChange, DomainError, NotFound, PermissionDenied, TransitionNotAllowed
from backoffice.journal.services import journal_record
from backoffice.parsing import refuse_card_numbers

logger = logging.getLogger("backoffice.transitions")

M = TypeVar("M", bound=Model)

# SQLSTATEs that are concurrency, not bugs: serialization failure, deadlock, lock not available.
CONCURRENCY_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


@dataclass(frozen=True)
class TransitionRun:
    """What one run of a transition hands each of its hooks (guards, ``arguments``, effects, ``journal``).

    ``case`` is the row locked for this run (its state is the source state in the guards and the
    target state in the effects); ``params`` are the caller's inputs for this run, read-only;
    ``context`` belongs to this run: a hook puts the facts it found there (an invoice's due date
    before and after, the approval step …) and they land in the journal row.
    """

    name: str
    case: Any
    actor: Any
    reason: str
    source: str
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    context: dict[str, Any] = field(default_factory=dict)


Hook = Callable[[TransitionRun], None]


@dataclass(frozen=True)
class Transition:
    """One workflow transition, declared once at module level in its app (``<app>/services.py``).

    * ``model``, ``name``: the case model and its django-fsm-2 ``@transition`` method. Who may take
      it is that transition's ``permission=`` callable declared on the model (the ``rules``
      predicates of the app's policy); the source states are its ``source=``. Neither is repeated here.
    * ``refusal``: ``fn(run) -> DomainError | None``, the app policy's answer to "may this actor take
      it on this case?", asked right after the lock and before the generic permission check, so that
      a refusal keeps its own code (``self_approval_forbidden``, ``approval_limit_exceeded`` …).
    * ``guards``: ``fn(run)`` run under the row lock after the permission and state checks; they
      read, and refuse by raising a ``DomainError`` with a specific code (nothing is written yet).
      They may note facts in ``run.context``.
    * ``arguments``: ``fn(run) -> dict`` the keyword arguments of the transition method (e.g. the
      approver, a new deadline), computed after the guards.
    * ``effects``: ``fn(run)`` run under the same lock after the case is saved: write rows that
      belong to the step (an approval row, an invoice's due date), ``transaction.on_commit`` work.
      Raising a ``DomainError`` there still refuses the whole transition (everything rolls back).
    * ``journal``: ``fn(run) -> dict`` the journal row's context (``run.context`` is added to it).
    * ``nowait``: ``False`` for system work that should wait for the row lock rather than be refused.

    Rows that must be locked before the case (the payment: see the lock order in
    ``invoices/ledger.py``) are locked by the service before it calls ``run_transition``, in the same
    transaction, and passed in ``params``.
    """

    model: type[Model]
    name: str
    refusal: Callable[[TransitionRun], DomainError | None] | None = None
    guards: tuple[Hook, ...] = ()
    arguments: Callable[[TransitionRun], Mapping[str, Any]] | None = None
    effects: tuple[Hook, ...] = ()
    journal: Callable[[TransitionRun], Mapping[str, Any]] | None = None
    nowait: bool = True

    def run(self, *, pk: Any, actor: Any, reason: str = "", expected_state: str | None = None,
            params: Mapping[str, Any] | None = None) -> Any:
        return run_transition(self, pk=pk, actor=actor, reason=reason, expected_state=expected_state,
                              params=params)


def lock_case(model: type[M], pk: Any, *, nowait: bool = True) -> M:
    """``SELECT … FOR UPDATE NOWAIT`` the case row: a second writer gets ``concurrent_change`` at once."""
    qs = model._default_manager.all()
    if connection.features.has_select_for_update:
        use_nowait = nowait and connection.features.has_select_for_update_nowait
        qs = qs.select_for_update(nowait=use_nowait, of=("self",)) if connection.features.has_select_for_update_of \
            else qs.select_for_update(nowait=use_nowait)
    try:
        return qs.get(pk=pk)
    except model.DoesNotExist as exc:
        raise NotFound(f"{model._meta.verbose_name.capitalize()} {pk} does not exist.") from exc
    except OperationalError as exc:
        raise ConcurrentChange() from exc


def _transition_method(case: Model, name: str) -> Any:
    public = getattr(case, "PUBLIC_TRANSITIONS", ())
    known = name in public or name in getattr(case, "SYSTEM_TRANSITIONS", ())
    method = getattr(case, name, None) if known else None
    if method is None or not hasattr(method, "_django_fsm"):
        raise TransitionNotAllowed(
            f"'{name}' is not an action on a {case._meta.verbose_name}.", code="unknown_transition"
        )
    return method


def transition_permitted(case: Model, name: str, user: Any) -> bool:
    """Whether ``user`` may take transition ``name`` on ``case`` (ignoring its current state)."""
    method = getattr(case, name, None)
    meta = getattr(method, "_django_fsm", None)
    if meta is None:
        return False
    current = meta.field.get_state(case)
    candidate = meta.get_transition(current)
    transitions = [candidate] if candidate is not None else list(meta.transitions.values())
    return any(t.has_perm(case, user) for t in transitions)


def available_transitions(case: Model, user: Any) -> list[str]:
    """Public transitions allowed from the current state that this user may take: the page's buttons."""
    names: list[str] = []
    for name in getattr(case, "PUBLIC_TRANSITIONS", ()):
        method = getattr(case, name, None)
        if method is None or not django_fsm.can_proceed(method, check_conditions=False):
            continue
        if transition_permitted(case, name, user):
            names.append(name)
    return names


def run_transition(
    spec: Transition,
    *,
    pk: Any,
    actor: Any,
    reason: str = "",
    expected_state: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> Any:
    """Take ``spec`` on case ``pk`` as ``actor``; returns the saved case.

    ``expected_state``: the state the caller saw (a page's button): another one now is a
    ``concurrent_change``. ``params``: inputs the hooks read as ``run.params``.
    """
    name = spec.name
    case_type = case_type_of(spec.model)
    reference = ""
    refuse_card_numbers(reason or "", field="reason")
    try:
        with transaction.atomic():
            case = lock_case(spec.model, pk, nowait=spec.nowait)
            reference = getattr(case, "reference", "") or ""
            bind_log_context(case_reference=reference)
            method = _transition_method(case, name)
            run = TransitionRun(name=name, case=case, actor=actor, reason=reason or "", source=case.state,
                                params=MappingProxyType(dict(params or {})))
            refusal = spec.refusal(run) if spec.refusal is not None else None
            if refusal is not None:
                raise refusal
            if not transition_permitted(case, name, actor):
                raise PermissionDenied(f"You may not {name.replace('_', ' ')} {reference or 'this case'}.")
            if expected_state is not None and case.state != expected_state:
                raise ConcurrentChange(
                    f"{reference} is now '{case.state}', not '{expected_state}': someone changed it. Reload and retry."
                )
            if not django_fsm.can_proceed(method, check_conditions=False):
                raise TransitionNotAllowed(
                    f"{reference or 'This case'} cannot '{name}' while it is '{case.state}'."
                )
            for guard in spec.guards:
                guard(run)
            arguments = spec.arguments(run) if spec.arguments is not None else {}
            try:
                method(**arguments)
            except django_fsm.TransitionNotAllowed as exc:
                raise TransitionNotAllowed(f"{reference}: {exc}") from exc
            try:
                case.save()
            except django_fsm.ConcurrentTransition as exc:
                raise ConcurrentChange() from exc
            for effect in spec.effects:
                effect(run)
            row_context = {**(spec.journal(run) if spec.journal is not None else {}), **run.context}
            journal_record(
                case_type=case_type,
                case_id=case.pk,
                case_reference=reference,
                transition=name,
                source=run.source,
                target=case.state,
                actor=actor,
                reason=reason,
                context=row_context,
            )
    except DomainError as err:
        _record_denial(case_type, pk, reference, name, actor, err)
        raise
    except DatabaseError as exc:
        if getattr(getattr(exc, "__cause__", None), "sqlstate", None) in CONCURRENCY_SQLSTATES:
            err = ConcurrentChange()
            _record_denial(case_type, pk, reference, name, actor, err)
            raise err from exc
        raise
    logger.info(
        "transition case_type=%s case_id=%s transition=%s actor=%s target=%s",
        case_type, pk, name, actor_label(actor), case.state,
    )
    return case


def _record_denial(case_type: str, pk: Any, reference: str, name: str, actor: Any, err: DomainError) -> None:
    denial_record(err, case_type=case_type, case_id=pk, case_reference=reference, action=name, actor=actor)
