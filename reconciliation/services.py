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
from backoffice.cases.transitions import lock_case, run_transition
from backoffice.denials import refusals_recorded
from backoffice.errors import InvalidInput, NotFound

from .conf import setting
from .models import RECONCILIATION, Break, BreakState, Resolution, WriteOffDecision
from .policy import write_off_refusal

logger = logging.getLogger("reconciliation")

REASON_MAX_CHARS = 2000


def _reason_required(reason: str, action: str) -> Callable[[Any], None]:
    def check(case: Break) -> None:
        if not reason:
            raise InvalidInput(f"Give a reason to {action} {case.reference}.", code="reason_required")
        if len(reason) > REASON_MAX_CHARS:
            raise InvalidInput(f"A reason is limited to {REASON_MAX_CHARS} characters.", code="reason_too_long")

    return check


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


def break_auto_resolve(*, brk: Break, settlement_import_id: int, reason: str) -> Break:
    """A later report settled what was missing: close the break as ``auto_resolved`` (journaled)."""
    return run_transition(model=Break, pk=brk.pk, name="auto_resolve", actor=RECONCILIATION, reason=reason,
                          nowait=False, transition_kwargs={"settlement_import_id": settlement_import_id},
                          context=_context(brk, settlement_import_id=settlement_import_id))


# ---------------------------------------------------------------- people

def break_investigate(*, brk: Break, actor: Any, reason: str = "", expected_state: str | None = None) -> Break:
    """A specialist or team lead starts working on the break."""
    return run_transition(model=Break, pk=brk.pk, name="investigate", actor=actor, reason=(reason or "").strip(),
                          expected_state=expected_state, context=_context(brk))


def break_resolve(*, brk: Break, actor: Any, resolution: str, reason: str = "",
                  expected_state: str | None = None) -> Break:
    """Close the break with what fixed it: corrected in the ledger, the PSP corrected it, or timing."""
    resolution = (resolution or "").strip()

    def valid_resolution(case: Break) -> None:
        if resolution not in Resolution.values:
            raise InvalidInput(f"Choose a resolution: {', '.join(Resolution.values)}.", code="invalid_resolution")

    return run_transition(model=Break, pk=brk.pk, name="resolve", actor=actor, reason=(reason or "").strip(),
                          expected_state=expected_state, checks=[valid_resolution],
                          transition_kwargs={"resolution": resolution},
                          context=_context(brk, resolution=resolution))


def break_request_write_off(*, brk: Break, actor: Any, reason: str, expected_state: str | None = None) -> Break:
    """Ask for the amount to be written off; someone else within their limit decides (four eyes)."""
    reason = (reason or "").strip()
    return run_transition(model=Break, pk=brk.pk, name="request_write_off", actor=actor, reason=reason,
                          expected_state=expected_state, checks=[_reason_required(reason, "write off")],
                          transition_kwargs={"requester": actor, "reason": reason}, context=_context(brk))


def _decide(*, brk: Break, actor: Any, name: str, reason: str, expected_state: str | None) -> Break:
    reason = (reason or "").strip()
    with refusals_recorded(model=Break, action=name, actor=actor, case=brk):
        with transaction.atomic():
            current = lock_case(Break, brk.pk)
            if current.state == BreakState.WRITE_OFF_REQUESTED:
                refusal = write_off_refusal(brk=current, user=actor)
                if refusal is not None:
                    raise refusal

            def record(case: Break) -> None:
                WriteOffDecision.objects.create(brk=case, approver=actor, approved=name == "approve_write_off",
                                                reason=reason)

            return run_transition(model=Break, pk=brk.pk, name=name, actor=actor, reason=reason,
                                  expected_state=expected_state, checks=[_reason_required(reason, "decide")],
                                  after=[record], context=_context(current, requester_id=current.requester_id))


def break_approve_write_off(*, brk: Break, actor: Any, reason: str, expected_state: str | None = None) -> Break:
    """Approve the write-off: never the requester; within the decider's limit for the currency."""
    return _decide(brk=brk, actor=actor, name="approve_write_off", reason=reason, expected_state=expected_state)


def break_reject_write_off(*, brk: Break, actor: Any, reason: str, expected_state: str | None = None) -> Break:
    """Send the break back to investigating (same rules as approving)."""
    return _decide(brk=brk, actor=actor, name="reject_write_off", reason=reason, expected_state=expected_state)


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
    return run_transition(model=Break, pk=case_id, name=name, actor=actor, reason=reason,
                          expected_state=expected_state)
