"""Every write to breaks. Typed, keyword-only, one transaction each, through the shared transition service.

People: ``break_investigate``, ``break_resolve``, ``break_request_write_off``,
``break_approve_write_off``, ``break_reject_write_off``; ``break_transition`` dispatches a transition
name from the API, the pages and the admin. The matching (``reconciliation.matching``) opens breaks
with ``break_open`` and closes them with ``break_auto_resolve`` as ``system:reconciliation``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from backoffice.cases.services import case_assign_reference, case_journal_created
from backoffice.cases.transitions import Transition, TransitionRun, run_transition
from backoffice.errors import DomainError, InvalidInput, NotFound

from .conf import setting
from .models import RECONCILIATION, Break, BreakState, Resolution, WriteOffDecision
from .policy import write_off_refusal

logger = logging.getLogger("reconciliation")

REASON_MAX_CHARS = 2000


def _reason_required(run: TransitionRun) -> None:
    if not run.reason:
        raise InvalidInput(f"Give a reason to {_REASON_VERBS[run.name]} {run.case.reference}.", code="reason_required")
    if len(run.reason) > REASON_MAX_CHARS:
        raise InvalidInput(f"A reason is limited to {REASON_MAX_CHARS} characters.", code="reason_too_long")


_REASON_VERBS = {"request_write_off": "write off", "approve_write_off": "decide", "reject_write_off": "decide"}


def _context(case: Break, **extra: Any) -> dict[str, Any]:
    return {"kind": case.kind, "psp": case.psp, "psp_reference": case.psp_reference,
            "amount_minor": case.amount_minor, "currency": case.currency, **extra}


# ---------------------------------------------------------------- the matching (system)

def break_open(*, kind: str, psp: str, psp_reference: str, amount_minor: int, currency: str, detail: str,
               settlement_import_id: int | None = None, line_id: int | None = None, payment_id: int | None = None,
               refund_id: int | None = None, dispute_id: int | None = None, expected_minor: int | None = None,
               reported_minor: int | None = None) -> Break | None:
    """Open a break found by the matching (journaled ``create`` by ``system:reconciliation``).

    None when the same kind of break on the same PSP id exists already (found once; a second report
    of the same discrepancy is not a second case). Call inside the import's transaction.
    """
    if Break.objects.filter(kind=kind, psp=psp, psp_reference=psp_reference).exists():
        return None
    due = timezone.now() + timedelta(days=setting("RECONCILIATION_BREAK_DUE_DAYS"))
    with transaction.atomic():
        brk = Break.objects.create(
            kind=kind, psp=psp, psp_reference=psp_reference[:64], amount_minor=abs(amount_minor) or 1,
            currency=currency, detail=detail[:500], settlement_import_id=settlement_import_id, line_id=line_id,
            payment_id=payment_id, refund_id=refund_id, dispute_id=dispute_id, expected_minor=expected_minor,
            reported_minor=reported_minor, due_at=due, internal_due_at=due,
        )
        case_assign_reference(case=brk)
        case_journal_created(case=brk, actor=RECONCILIATION, reason=detail[:500],
                             context=_context(brk, settlement_import_id=settlement_import_id))
    return brk


# ---------------------------------------------------------------- the transitions, declared once

def _journal_context(run: TransitionRun) -> dict[str, Any]:
    return _context(run.case)


def _valid_resolution(run: TransitionRun) -> None:
    if run.params["resolution"] not in Resolution.values:
        raise InvalidInput(f"Choose a resolution: {', '.join(Resolution.values)}.", code="invalid_resolution")


def _write_off_refusal(run: TransitionRun) -> DomainError | None:
    """``reconciliation.policy``: never the requester, within the decider's limit (while a write-off is asked)."""
    if run.case.state != BreakState.WRITE_OFF_REQUESTED:
        return None
    return write_off_refusal(brk=run.case, user=run.actor)


def _record_decision(run: TransitionRun) -> None:
    WriteOffDecision.objects.create(brk=run.case, approver=run.actor, approved=run.name == "approve_write_off",
                                    reason=run.reason)


AUTO_RESOLVE = Transition(
    model=Break, name="auto_resolve", nowait=False,
    arguments=lambda run: {"settlement_import_id": run.params["settlement_import_id"]},
    journal=lambda run: _context(run.case, settlement_import_id=run.params["settlement_import_id"]),
)
INVESTIGATE = Transition(model=Break, name="investigate", journal=_journal_context)
RESOLVE = Transition(
    model=Break, name="resolve", guards=(_valid_resolution,),
    arguments=lambda run: {"resolution": run.params["resolution"]},
    journal=lambda run: _context(run.case, resolution=run.params["resolution"]),
)
REQUEST_WRITE_OFF = Transition(
    model=Break, name="request_write_off", guards=(_reason_required,),
    arguments=lambda run: {"requester": run.actor, "reason": run.reason}, journal=_journal_context,
)
APPROVE_WRITE_OFF, REJECT_WRITE_OFF = (
    Transition(model=Break, name=name, refusal=_write_off_refusal, guards=(_reason_required,),
               effects=(_record_decision,), journal=lambda run: _context(run.case, requester_id=run.case.requester_id))
    for name in ("approve_write_off", "reject_write_off")
)


def break_auto_resolve(*, brk: Break, settlement_import_id: int, reason: str) -> Break:
    """A later report settled what was missing: close the break as ``auto_resolved`` (journaled)."""
    return AUTO_RESOLVE.run(pk=brk.pk, actor=RECONCILIATION, reason=reason,
                            params={"settlement_import_id": settlement_import_id})


# ---------------------------------------------------------------- people

def break_investigate(*, brk: Break, actor: Any, reason: str = "", expected_state: str | None = None) -> Break:
    """A specialist or team lead starts working on the break."""
    return INVESTIGATE.run(pk=brk.pk, actor=actor, reason=(reason or "").strip(), expected_state=expected_state)


def break_resolve(*, brk: Break, actor: Any, resolution: str, reason: str = "",
                  expected_state: str | None = None) -> Break:
    """Close the break with what fixed it: corrected in the ledger, the PSP corrected it, or timing."""
    return RESOLVE.run(pk=brk.pk, actor=actor, reason=(reason or "").strip(), expected_state=expected_state,
                       params={"resolution": (resolution or "").strip()})


def break_request_write_off(*, brk: Break, actor: Any, reason: str, expected_state: str | None = None) -> Break:
    """Ask for the amount to be written off; someone else within their limit decides (four eyes)."""
    return REQUEST_WRITE_OFF.run(pk=brk.pk, actor=actor, reason=(reason or "").strip(), expected_state=expected_state)


def break_approve_write_off(*, brk: Break, actor: Any, reason: str, expected_state: str | None = None) -> Break:
    """Approve the write-off: never the requester; within the decider's limit for the currency."""
    return APPROVE_WRITE_OFF.run(pk=brk.pk, actor=actor, reason=(reason or "").strip(), expected_state=expected_state)


def break_reject_write_off(*, brk: Break, actor: Any, reason: str, expected_state: str | None = None) -> Break:
    """Send the break back to investigating (same rules as approving)."""
    return REJECT_WRITE_OFF.run(pk=brk.pk, actor=actor, reason=(reason or "").strip(), expected_state=expected_state)


def break_transition(*, case_id: int, name: str, actor: Any, reason: str = "", data: dict | None = None) -> Break:
    """The dispatcher the API, the pages and the admin call with a transition name."""
    data = data or {}
    expected_state = data.get("expected_state") or None
    brk = Break.objects.filter(pk=case_id).first()
    if brk is None:
        raise NotFound(f"Break {case_id} does not exist.")
    if name == "resolve":
        return break_resolve(brk=brk, actor=actor, resolution=str(data.get("resolution") or ""), reason=reason,
                             expected_state=expected_state)
    services: dict[str, Callable[..., Break]] = {
        "investigate": break_investigate, "request_write_off": break_request_write_off,
        "approve_write_off": break_approve_write_off, "reject_write_off": break_reject_write_off,
    }
    if name in services:
        return services[name](brk=brk, actor=actor, reason=reason, expected_state=expected_state)
    # System transitions and unknown names: the shared service refuses them with the usual codes.
    return run_transition(Transition(model=Break, name=name), pk=case_id, actor=actor, reason=reason,
                          expected_state=expected_state)
