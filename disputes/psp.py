"""Writes that a PSP reports (webhooks, dispute report import): the dispute as the PSP sees it.

``dispute_from_psp`` creates the dispute when it is new and then walks it, through the transition
service and the public dispute services, towards the state the PSP reports — only forwards: a
state the case has already left is never re-entered (an older event never moves it backwards).
``dispute_record_psp_fact`` journals what moves no state (funds withdrawn or reinstated).

Path, per current state, towards the PSP's state (system actor ``webhook:stripe`` / ``webhook:adyen``):

=================  ==================================================================================
current            PSP state → transitions taken
=================  ==================================================================================
inquiry            closed → ``close_inquiry``; needs_response → ``open_chargeback`` (PSP due date);
                   under_review / won / lost → ``open_chargeback`` first, then as below
needs_response     under_review → ``submit_evidence`` (the response was sent at the PSP);
                   won / lost → ``mark_won`` / ``mark_lost``; expired → ``expire`` (or ``mark_lost``
                   while our clock has not reached ``due_at`` yet)
under_review       won / lost → ``mark_won`` / ``mark_lost``
won, lost          needs_response at a later stage → ``reopen`` (pre-arbitration, arbitration)
anything else      nothing (the case already passed that state, or is final)
=================  ==================================================================================
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from backoffice.cases.transitions import Transition
from backoffice.errors import BusinessRuleViolation, Conflict
from backoffice.journal.services import journal_record
from invoices.ledger import payment_lock
from invoices.models import Payment

from .models import GENERIC_NETWORK, Dispute, DisputeStage, DisputeState
from .selectors import reason_code_find
from .services import (
    dispute_close_inquiry,
    dispute_create,
    dispute_expire,
    dispute_mark_lost,
    dispute_mark_won,
    dispute_open_chargeback,
    dispute_reopen,
)

logger = logging.getLogger("disputes.psp")

GENERIC_FALLBACK_REASON = "general"
PSP_EXPIRED = "expired"  # the PSP's "defense period ended": our ``expire``


@dataclass(frozen=True)
class PspDispute:
    """A dispute as a PSP reports it, in our terms."""

    psp: str
    psp_dispute_id: str
    amount_minor: int
    currency: str
    network: str
    reason_code: str  # the network's code when the PSP gives it, else the PSP's reason
    state: str  # a DisputeState value (or PSP_EXPIRED)
    stage: str = DisputeStage.CHARGEBACK
    due_at: datetime | None = None


def _reason_code(*, network: str, code: str):
    found = reason_code_find(network=network, code=code) if code else None
    if found is None:
        found = reason_code_find(network=GENERIC_NETWORK, code=GENERIC_FALLBACK_REASON)
    return found


def dispute_find_psp(*, psp: str, psp_dispute_id: str) -> Dispute | None:
    return Dispute.objects.filter(psp=psp, psp_dispute_id=psp_dispute_id).first()


def _create(*, reported: PspDispute, payment: Payment, actor: Any, reason: str) -> Dispute:
    stage = DisputeStage.INQUIRY if reported.state in (DisputeState.INQUIRY, DisputeState.CLOSED) \
        else DisputeStage.CHARGEBACK
    network = reported.network
    if payment.network and network in ("", "other"):
        network = payment.network
    return dispute_create(
        actor=actor, payment=payment, amount_minor=reported.amount_minor, currency=reported.currency,
        network=network or "other", reason_code=_reason_code(network=network or "other", code=reported.reason_code),
        psp=reported.psp, psp_dispute_id=reported.psp_dispute_id, due_at=reported.due_at, stage=stage,
        reason=reason,
    )


# needs_response → under_review because the PSP says the response was submitted (its dashboard, or our
# own submission confirmed): no packet is built here, the PSP holds the evidence.
SUBMITTED_AT_PSP = Transition(model=Dispute, name="submit_evidence", nowait=False,
                              arguments=lambda run: {"override": False},
                              journal=lambda run: {"submitted_at_psp": True})


def _submit_at_psp(*, dispute: Dispute, actor: Any, reason: str) -> Dispute:
    with transaction.atomic():
        payment_lock(dispute.payment_id)
        return SUBMITTED_AT_PSP.run(pk=dispute.pk, actor=actor, reason=reason)


def _step(dispute: Dispute, target: str, *, reported: PspDispute, actor: Any, reason: str) -> Dispute | None:
    """One transition towards ``target``; None when there is no forward step from here."""
    state = dispute.state
    common = {"dispute_id": dispute.pk, "actor": actor, "reason": reason}
    if state == DisputeState.INQUIRY:
        if target == DisputeState.CLOSED:
            return dispute_close_inquiry(**common)
        if target in (DisputeState.NEEDS_RESPONSE, DisputeState.UNDER_REVIEW, DisputeState.WON,
                      DisputeState.LOST, PSP_EXPIRED):
            return dispute_open_chargeback(**common, due_at=reported.due_at)
        return None
    if state == DisputeState.NEEDS_RESPONSE:
        if target == DisputeState.UNDER_REVIEW:
            return _submit_at_psp(dispute=dispute, actor=actor, reason=reason)
        if target == DisputeState.WON:
            return dispute_mark_won(**common)
        if target == DisputeState.LOST:
            return dispute_mark_lost(**common)
        if target == PSP_EXPIRED:
            try:
                return dispute_expire(**common)
            except BusinessRuleViolation:
                return dispute_mark_lost(**common)  # the PSP's deadline passed before ours
        return None
    if state == DisputeState.UNDER_REVIEW:
        if target == DisputeState.WON:
            return dispute_mark_won(**common)
        if target in (DisputeState.LOST, PSP_EXPIRED):
            return dispute_mark_lost(**common)
        return None
    if state in (DisputeState.WON, DisputeState.LOST) and target == DisputeState.NEEDS_RESPONSE \
            and reported.stage in (DisputeStage.PRE_ARBITRATION, DisputeStage.ARBITRATION) \
            and reported.stage != dispute.stage:
        return dispute_reopen(**common, due_at=reported.due_at)
    return None


def dispute_from_psp(*, reported: PspDispute, payment: Payment, actor: Any, reason: str = ""
                     ) -> tuple[Dispute, list[str]]:
    """Create the dispute if it is new, then move it forwards to the PSP's state.

    Returns the dispute and the transitions taken (empty: nothing to do). Each step is one
    transaction of the transition service; the caller's transaction makes them one unit.
    """
    taken: list[str] = []
    dispute = dispute_find_psp(psp=reported.psp, psp_dispute_id=reported.psp_dispute_id)
    if dispute is None:
        try:
            dispute = _create(reported=reported, payment=payment, actor=actor, reason=reason)
            taken.append("created")
        except Conflict as err:
            if err.code != "dispute_exists":
                raise
            dispute = dispute_find_psp(psp=reported.psp, psp_dispute_id=reported.psp_dispute_id)
    for _ in range(4):  # the longest path: inquiry → needs_response → under_review → won/lost
        if dispute.state == reported.state:
            break
        moved = _step(dispute, reported.state, reported=reported, actor=actor, reason=reason)
        if moved is None:
            break
        taken.append(moved.state)
        dispute = moved
    return dispute, taken


def dispute_record_psp_fact(*, dispute: Dispute, actor: Any, fact: str, context: dict[str, Any] | None = None,
                            reason: str = "") -> None:
    """Journal something the PSP reports that changes no state (``psp_funds_withdrawn`` …) on the case's
    timeline, under the case's lock."""
    from backoffice.cases.transitions import lock_case

    with transaction.atomic():
        locked = lock_case(Dispute, dispute.pk, nowait=False)
        journal_record(case_type=Dispute.CASE_TYPE, case_id=locked.pk, case_reference=locked.reference or "",
                       transition=fact, source=locked.state, target=locked.state, actor=actor, reason=reason,
                       context=context or {})
