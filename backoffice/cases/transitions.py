"""The one transition service every case type uses.

lock the row → check this user's permission on this object → check the state → domain checks
→ run the django-fsm-2 transition → save → journal → follow-up work on commit, all in one
transaction. Refusals raise ``backoffice.errors`` with stable codes and are recorded as
denied attempts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
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

Hook = Callable[[Any], None]


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
    *,
    model: type[M],
    pk: Any,
    name: str,
    actor: Any,
    reason: str = "",
    expected_state: str | None = None,
    checks: Iterable[Hook] = (),
    after: Iterable[Hook] = (),
    context: dict[str, Any] | None = None,
    context_fn: Callable[[Any], dict[str, Any]] | None = None,
    transition_kwargs: dict[str, Any] | None = None,
    nowait: bool = True,
) -> M:
    """Take transition ``name`` on case ``pk`` as ``actor``.

    ``checks`` run under the lock after permission and state checks and raise ``DomainError``
    to refuse; ``after`` run under the lock after the save (e.g. move an invoice's due date, or
    ``transaction.on_commit`` follow-up work).
    """
    case_type = case_type_of(model)
    reference = ""
    refuse_card_numbers(reason or "", field="reason")
    try:
        with transaction.atomic():
            case = lock_case(model, pk, nowait=nowait)
            reference = getattr(case, "reference", "") or ""
            bind_log_context(case_reference=reference)
            method = _transition_method(case, name)
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
            for check in checks:
                check(case)
            source = case.state
            try:
                method(**(transition_kwargs or {}))
            except django_fsm.TransitionNotAllowed as exc:
                raise TransitionNotAllowed(f"{reference}: {exc}") from exc
            try:
                case.save()
            except django_fsm.ConcurrentTransition as exc:
                raise ConcurrentChange() from exc
            for hook in after:
                hook(case)
            row_context = dict(context or {})
            if context_fn is not None:
                row_context.update(context_fn(case))
            journal_record(
                case_type=case_type,
                case_id=case.pk,
                case_reference=reference,
                transition=name,
                source=source,
                target=case.state,
                actor=actor,
                reason=reason,
                context=row_context,
            )
    except DomainError as err:
        _record_denial(case_type, pk, reference, name, actor, err)
        raise
    except DatabaseError as exc:
        # Serialization failures and lock timeouts are concurrency, not bugs.
        if getattr(getattr(exc, "__cause__", None), "sqlstate", None) in {"40001", "40P01", "55P03"}:
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
