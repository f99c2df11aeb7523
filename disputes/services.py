"""Every write to disputes: creation, evidence, and each transition through the shared transition service.

Locks follow the order ``invoices.ledger`` states: each transition opens a transaction, locks the
payment row with ``payment_lock``, then lets ``run_transition`` lock the dispute (``dispute_run_transition``);
each transition is declared once below as a ``Transition``. A dispute that,
with the payment's refunds and other disputes, comes to more than the payment captured is recorded
anyway (the network decides, we cannot refuse a chargeback) and flagged on the case
(``over_captured_at`` / ``over_captured_minor``), at creation and when it is accepted or lost; the
payment's open refunds are then refused by the refund invariant. PDF rendering never runs under a
lock: ``dispute_submit_evidence`` renders the packet from a snapshot first, then checks under
the lock that the evidence has not changed since.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from backoffice.actors import CELERY, actor_label
from backoffice.cases.services import case_assign_reference, case_journal_created
from backoffice.cases.transitions import Transition, TransitionRun, lock_case, run_transition, transition_permitted
from backoffice.cases.uploads import check_upload
from backoffice.denials import denial_record
from backoffice.errors import (
    BusinessRuleViolation,
    ConcurrentChange,
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from backoffice.journal.services import journal_record
from backoffice.money import MoneyError, is_valid_currency
from backoffice.parsing import parse_datetime_value, refuse_card_numbers
from backoffice.roles.predicates import is_system
from invoices.ledger import payment_balance, payment_lock
from invoices.models import Payment

from . import policy
from .models import (
    EVIDENCE_OPEN_STATES,
    GENERIC_NETWORK,
    NEXT_STAGE,
    AcceptanceProposal,
    CoverLetter,
    CoverLetterTemplate,
    Dispute,
    DisputeStage,
    DisputeState,
    EvidenceItem,
    EvidenceKind,
    Network,
    ReasonCode,
    evidence_upload_to,
    packet_upload_to,
)
from .selectors import disputes_due_for_escalation, reason_code_find

logger = logging.getLogger("disputes")

MAX_EVIDENCE_TEXT = 20_000
TRUTHY = {"1", "true", "on", "yes"}


# ---------------------------------------------------------------- deadlines


def dispute_deadlines(*, reason_code: ReasonCode, start: datetime,
                      due_at: datetime | None = None) -> tuple[datetime, datetime]:
    """``due_at`` from the PSP when known, else ``start`` + the network's response window; and the
    internal due date, ``DISPUTE_DEADLINE_BUFFER_HOURS`` before it."""
    if due_at is not None:
        due_at = parse_datetime_value(due_at, field="due_at", code="invalid_due_at")
    due = due_at or start + timedelta(days=reason_code.response_days)
    return due, due - timedelta(hours=settings.DISPUTE_DEADLINE_BUFFER_HOURS)


def parse_due_at(value: Any) -> datetime | None:
    """A due date from a form or JSON: ISO 8601 datetime (naive = UTC) or a date (end of that day, UTC),
    inside the window of ``backoffice.parsing`` (a year-10000 instant could not be read back)."""
    if value in (None, ""):
        return None
    return parse_datetime_value(value, field="due_at", day_end=True, code="invalid_due_at")


# ---------------------------------------------------------------- locks


def _over_captured(*, payment_id: int, amount_minor: int, currency: str, counted: bool) -> tuple[bool, int | None]:
    """(flag?, by how much) for a dispute on the locked payment: refunds + disputes past what was captured."""
    excess = payment_balance(payment_id=payment_id).excess_with_dispute(
        amount_minor=amount_minor, currency=currency, counted=counted)
    return (excess is None or excess > 0), excess


def _flag_if_over_captured(run: TransitionRun) -> None:
    """An effect of ``accept`` / ``mark_lost`` / ``expire``: flag the dispute when the loss does not fit."""
    case = run.case
    flag, excess = _over_captured(payment_id=case.payment_id, amount_minor=case.amount_minor,
                                  currency=case.currency, counted=True)
    if not flag:
        return
    case.over_captured_at = case.over_captured_at or timezone.now()
    case.over_captured_minor = excess
    Dispute.objects.filter(pk=case.pk).update(over_captured_at=case.over_captured_at, over_captured_minor=excess)
    logger.warning("dispute_over_captured dispute_id=%s excess_minor=%s", case.pk, excess)


def _over_captured_context(case: Dispute) -> dict[str, Any]:
    if case.over_captured_at is None:
        return {}
    return {"over_captured": True, "over_captured_minor": case.over_captured_minor}


# ---------------------------------------------------------------- create


def _resolve_reason_code(*, reason_code: ReasonCode | str, network: str) -> ReasonCode:
    if isinstance(reason_code, ReasonCode):
        found = reason_code
    else:
        code = str(reason_code or "").strip()
        found = reason_code_find(network=network, code=code)
        if found is None:
            raise InvalidInput(f"'{code}' is not a {network} reason code in the catalogue.",
                               code="unknown_reason_code")
    if found.network not in (network, GENERIC_NETWORK):
        raise InvalidInput(f"Reason code {found.code} belongs to {found.get_network_display()}, not {network}.",
                           code="reason_code_network_mismatch")
    return found


def dispute_create(
    *,
    actor: Any,
    payment: Payment | int,
    amount_minor: int,
    currency: str,
    network: str,
    reason_code: ReasonCode | str,
    psp: str,
    psp_dispute_id: str,
    due_at: datetime | None = None,
    stage: str = DisputeStage.CHARGEBACK,
    state: str | None = None,
    reason: str = "",
) -> Dispute:
    """Record a dispute reported by a PSP (webhook, system) or entered by hand (specialist, team lead).

    Locks the payment first; refuses a PSP dispute id already recorded and reason codes of another
    network, and a person's entry above the captured amount (same currency: a typo). A dispute that
    with the payment's refunds (not failed, rejected or cancelled) and other disputes comes to more
    than was captured is created and flagged (``over_captured_minor``): the network decides. The
    dispute starts in ``inquiry`` (stage inquiry) or ``needs_response`` (a chargeback stage).
    """
    try:
        policy.require("create", actor)
    except PermissionDenied as err:
        denial_record(err, case_type=Dispute.CASE_TYPE, action="create", actor=actor)
        raise
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise MoneyError("amount_minor must be an integer number of minor units.")
    if amount_minor <= 0:
        raise MoneyError("A disputed amount must be greater than zero.", code="amount_not_positive")
    currency = (currency or "").strip().upper()
    if not is_valid_currency(currency):
        raise MoneyError(f"{currency!r} is not a known ISO 4217 currency.", code="invalid_currency")
    if network not in Network.values:
        raise InvalidInput(f"Unknown network {network!r}; one of {', '.join(Network.values)}.",
                           code="invalid_network")
    psp = (psp or "").strip().lower()
    psp_dispute_id = (psp_dispute_id or "").strip()
    if not psp or len(psp) > 16:
        raise InvalidInput("Name the PSP that reported the dispute (e.g. stripe).", code="invalid_psp")
    if not psp_dispute_id or len(psp_dispute_id) > 64:
        raise InvalidInput("The PSP's dispute id is required (at most 64 characters).",
                           code="invalid_psp_dispute_id")
    if stage not in DisputeStage.values:
        raise InvalidInput(f"Unknown stage {stage!r}.", code="invalid_stage")
    expected_state = DisputeState.INQUIRY if stage == DisputeStage.INQUIRY else DisputeState.NEEDS_RESPONSE
    if state not in (None, "", expected_state):
        raise InvalidInput(
            f"A new dispute at stage '{stage}' starts in state '{expected_state}', not '{state}'.",
            code="invalid_state",
        )
    if due_at is not None and timezone.is_naive(due_at):
        raise InvalidInput("due_at must carry a time zone (UTC).", code="invalid_due_at")
    code = _resolve_reason_code(reason_code=reason_code, network=network)
    payment_id = payment.pk if isinstance(payment, Payment) else payment

    with transaction.atomic():
        locked = payment_lock(payment_id)
        if locked.network and locked.network != network:
            raise InvalidInput(
                f"Payment {locked.pk} was made on {locked.get_network_display()}, not {network}.",
                code="network_mismatch",
            )
        # The payment row is locked: this is the DB-side check a CHECK constraint cannot make. A PSP's
        # report is a fact (recorded and flagged below); a person's entry above the payment is a typo.
        if currency == locked.currency and amount_minor > locked.amount_minor and not is_system(actor):
            raise InvalidInput(
                f"The disputed amount ({amount_minor}) is above what payment {locked.pk} captured "
                f"({locked.amount_minor} {locked.currency}).",
                code="amount_exceeds_captured",
            )
        if Dispute.objects.filter(psp=psp, psp_dispute_id=psp_dispute_id).exists():
            raise Conflict(f"Dispute {psp_dispute_id} from {psp} is already recorded.", code="dispute_exists")
        now = timezone.now()
        due, internal_due = dispute_deadlines(reason_code=code, start=now, due_at=due_at)
        over, excess = _over_captured(payment_id=locked.pk, amount_minor=amount_minor, currency=currency,
                                      counted=False)
        try:
            with transaction.atomic():
                dispute = Dispute.objects.create(
                    payment=locked, amount_minor=amount_minor, currency=currency, network=network,
                    reason_code=code, psp=psp, psp_dispute_id=psp_dispute_id, stage=stage,
                    state=expected_state, due_at=due, internal_due_at=internal_due,
                    over_captured_at=now if over else None, over_captured_minor=excess if over else None,
                )
        except IntegrityError as exc:
            raise Conflict(f"Dispute {psp_dispute_id} from {psp} is already recorded.",
                           code="dispute_exists") from exc
        case_assign_reference(case=dispute)
        case_journal_created(case=dispute, actor=actor, reason=reason, context={
            "payment_id": locked.pk, "amount_minor": amount_minor, "currency": currency, "network": network,
            "reason_code": code.code, "psp": psp, "psp_dispute_id": psp_dispute_id, "stage": stage,
            "due_at": due.isoformat(), "due_source": "psp" if due_at else "network_window",
            **_over_captured_context(dispute),
        })
    logger.info("dispute_created dispute_id=%s reference=%s actor=%s", dispute.pk, dispute.reference,
                actor_label(actor))
    return dispute


# ---------------------------------------------------------------- evidence


def _evidence_storage():
    return EvidenceItem._meta.get_field("file").storage


def evidence_add(*, dispute_id: int, actor: Any, kind: str, text: str = "",
                 upload: UploadedFile | None = None) -> EvidenceItem:
    """Add one evidence item (text and/or a file) to an open dispute; journaled as ``add_evidence``.

    The file is validated (size, type by content) before anything is stored, and stored under a
    generated name; if anything refuses afterwards, the stored file is removed again.
    """
    reference = ""
    stored_name = ""
    try:
        policy.require("add_evidence", actor)
        current = Dispute.objects.filter(pk=dispute_id).values("state", "reference").first()
        if current is None:
            raise NotFound(f"Dispute {dispute_id} does not exist.")
        reference = current["reference"] or ""
        if kind not in EvidenceKind.values:
            raise InvalidInput(f"Unknown evidence kind {kind!r}.", code="invalid_evidence_kind")
        text = (text or "").strip()
        if len(text) > MAX_EVIDENCE_TEXT:
            raise InvalidInput(f"Evidence text is limited to {MAX_EVIDENCE_TEXT} characters.",
                               code="evidence_text_too_long")
        if not text and upload is None:
            raise InvalidInput("Evidence needs a text, a file, or both.", code="evidence_empty")
        refuse_card_numbers(text, field="text")
        if current["state"] not in EVIDENCE_OPEN_STATES:
            raise Conflict(f"{reference} is '{current['state']}': evidence can no longer be added.",
                           code="evidence_closed")
        checked = check_upload(upload) if upload is not None else None
        if checked is not None:
            stored_name = _evidence_storage().save(evidence_upload_to(None, checked.original_name), upload)
        try:
            with transaction.atomic():
                dispute = lock_case(Dispute, dispute_id)
                if dispute.state not in EVIDENCE_OPEN_STATES:
                    raise Conflict(f"{reference} is '{dispute.state}': evidence can no longer be added.",
                                   code="evidence_closed")
                item = EvidenceItem.objects.create(
                    dispute=dispute, kind=kind, text=text, file=stored_name,
                    sha256=checked.sha256 if checked else "", mime_type=checked.mime_type if checked else "",
                    size=checked.size if checked else 0, original_name=checked.original_name if checked else "",
                    stage=dispute.stage, added_by=actor,
                )
                journal_record(
                    case_type=Dispute.CASE_TYPE, case_id=dispute.pk, case_reference=reference,
                    transition="add_evidence", source=dispute.state, target=dispute.state, actor=actor,
                    context={"evidence_id": item.pk, "kind": kind, "sha256": item.sha256,
                             "mime_type": item.mime_type, "size": item.size},
                )
        except BaseException:
            if stored_name:
                _evidence_storage().delete(stored_name)
            raise
    except (PermissionDenied, Conflict) as err:
        denial_record(err, case_type=Dispute.CASE_TYPE, case_id=dispute_id, case_reference=reference,
                      action="add_evidence", actor=actor)
        raise
    return item


# ---------------------------------------------------------------- transitions


# ---------------------------------------------------------------- the transitions, declared once


def _new_deadline_in_future(run: TransitionRun) -> None:
    due_at = run.params.get("due_at")
    if due_at is not None and due_at <= timezone.now():
        raise InvalidInput("The new due date must be in the future.", code="invalid_due_at")


def _has_further_stage(run: TransitionRun) -> None:
    if NEXT_STAGE.get(run.case.stage) is None:
        raise BusinessRuleViolation(
            f"{run.case.reference} is at stage '{run.case.stage}': there is no further stage to reopen it at.",
            code="no_further_stage",
        )


def _new_cycle(run: TransitionRun) -> dict[str, Any]:
    """The stage and deadline of the next response cycle: the PSP's due date, else the network window."""
    case = run.case
    stage = DisputeStage.CHARGEBACK if run.name == "open_chargeback" else NEXT_STAGE[case.stage]
    due, internal_due = dispute_deadlines(reason_code=case.reason_code, start=timezone.now(),
                                          due_at=run.params.get("due_at"))
    return {"stage": stage, "due_at": due, "internal_due_at": internal_due}


def _cycle_context(run: TransitionRun) -> dict[str, Any]:
    case = run.case
    return {"stage": case.stage, "due_at": case.due_at.isoformat() if case.due_at else None}


def _before_deadline(run: TransitionRun) -> None:
    case = run.case
    if case.due_at is not None and timezone.now() >= case.due_at:
        raise BusinessRuleViolation(
            f"{case.reference}: the response deadline ({case.due_at:%Y-%m-%d %H:%M} UTC) has passed.",
            code="deadline_passed",
        )


def _deadline_passed(run: TransitionRun) -> None:
    case = run.case
    if case.due_at is None or timezone.now() < case.due_at:
        raise BusinessRuleViolation(f"{case.reference}: the response deadline has not passed yet.",
                                    code="deadline_not_passed")


def _evidence_complete(run: TransitionRun) -> None:
    """The reason code's required evidence is present (or a team lead overrides with a reason), and it
    is the evidence the packet was rendered from (``params["snapshot_ids"]``)."""
    case = run.case
    present = list(EvidenceItem.objects.filter(dispute_id=case.pk).values_list("id", "kind"))
    checklist = case.reason_code.checklist({kind for _, kind in present})
    run.context.update(evidence_kinds=sorted({kind for _, kind in present}), missing_evidence=checklist.missing,
                       evidence_override=False)
    if not checklist.complete:
        if not run.params["override"]:
            raise BusinessRuleViolation(
                f"{case.reference}: required evidence is missing: {'; '.join(checklist.missing_labels)}.",
                code="evidence_incomplete", extra={"missing_evidence": checklist.missing},
            )
        policy.require("override_checklist", run.actor)
        if not run.reason:
            raise InvalidInput("Overriding the evidence checklist needs a reason.", code="override_reason_required")
        run.context["evidence_override"] = True
    snapshot_ids = run.params["snapshot_ids"]
    if snapshot_ids is None or snapshot_ids != frozenset(pk for pk, _ in present):
        raise ConcurrentChange(f"{case.reference}: the evidence changed while the packet was being built. "
                               "Submit again.")


def _close_proposal_accepted(run: TransitionRun) -> None:
    _close_open_proposal(dispute=run.case, actor=run.actor, decision=AcceptanceProposal.Decision.ACCEPTED,
                         reason=run.reason)


def _over_captured_journal(run: TransitionRun) -> dict[str, Any]:
    return _over_captured_context(run.case)


OPEN_CHARGEBACK = Transition(model=Dispute, name="open_chargeback", guards=(_new_deadline_in_future,),
                             arguments=_new_cycle, journal=_cycle_context)
CLOSE_INQUIRY = Transition(model=Dispute, name="close_inquiry")
SUBMIT_EVIDENCE = Transition(
    model=Dispute, name="submit_evidence", guards=(_before_deadline, _evidence_complete),
    arguments=lambda run: {"override": run.context["evidence_override"], "packet_name": run.params["packet_name"],
                           "packet_sha256": run.params["packet_sha256"]},
    journal=lambda run: {"packet_sha256": run.params["packet_sha256"]},
)
ACCEPT = Transition(model=Dispute, name="accept", effects=(_close_proposal_accepted, _flag_if_over_captured),
                    journal=_over_captured_journal)
EXPIRE = Transition(model=Dispute, name="expire", guards=(_deadline_passed,), effects=(_flag_if_over_captured,),
                    journal=_over_captured_journal)
MARK_WON = Transition(model=Dispute, name="mark_won")
MARK_LOST = Transition(model=Dispute, name="mark_lost", effects=(_flag_if_over_captured,),
                       journal=_over_captured_journal)
REOPEN = Transition(model=Dispute, name="reopen", guards=(_new_deadline_in_future, _has_further_stage),
                    arguments=_new_cycle, journal=_cycle_context)


def dispute_run_transition(spec: Transition, *, dispute_id: int, actor: Any, reason: str = "",
                           expected_state: str | None = None, params: dict[str, Any] | None = None) -> Dispute:
    """Lock the payment, then take ``spec`` through the transition service (which locks the dispute)."""
    row = Dispute.objects.filter(pk=dispute_id).values("payment_id", "reference").first()
    if row is None:
        raise NotFound(f"Dispute {dispute_id} does not exist.")
    try:
        with transaction.atomic():
            payment_lock(row["payment_id"])
            return run_transition(spec, pk=dispute_id, actor=actor, reason=(reason or "").strip(),
                                  expected_state=expected_state or None, params=params)
    except DomainError as err:
        # Recorded once: the transition service already did unless the refusal came before it.
        denial_record(err, case_type=Dispute.CASE_TYPE, case_id=dispute_id, case_reference=row["reference"] or "",
                      action=spec.name, actor=actor)
        raise


def dispute_open_chargeback(*, dispute_id: int, actor: Any, reason: str = "", due_at: datetime | None = None,
                            expected_state: str | None = None) -> Dispute:
    """inquiry → needs_response at stage chargeback, with a new deadline (PSP's or the network window)."""
    return dispute_run_transition(OPEN_CHARGEBACK, dispute_id=dispute_id, actor=actor, reason=reason,
                                  expected_state=expected_state, params={"due_at": due_at})


def dispute_close_inquiry(*, dispute_id: int, actor: Any, reason: str = "",
                          expected_state: str | None = None) -> Dispute:
    return dispute_run_transition(CLOSE_INQUIRY, dispute_id=dispute_id, actor=actor, reason=reason,
                                  expected_state=expected_state)


def _submit_refusal(dispute: Dispute, *, actor: Any, override: bool, reason: str) -> bool:
    """Whether the locked checks would refuse this submission (read without a lock, to skip rendering)."""
    if not transition_permitted(dispute, "submit_evidence", actor) or dispute.state != DisputeState.NEEDS_RESPONSE:
        return True
    if dispute.due_at is not None and timezone.now() >= dispute.due_at:
        return True
    kinds = set(dispute.evidence.values_list("kind", flat=True))
    if dispute.reason_code.checklist(kinds).complete:
        return False
    return not (override and policy.allows("override_checklist", actor) and reason)


def dispute_submit_evidence(*, dispute_id: int, actor: Any, reason: str = "", override: bool = False,
                            expected_state: str | None = None) -> Dispute:
    """needs_response → under_review, before ``due_at`` and with the reason code's required evidence
    present — or, with evidence missing, by a team lead's override with a reason (journaled).

    The evidence packet is rendered from a snapshot before any lock is taken and stored with the
    transition; if the evidence changed meanwhile, the submission is refused as a concurrent change.
    """
    from .packet import packet_render, packet_snapshot

    reason = (reason or "").strip()
    dispute = Dispute.objects.select_related("reason_code").filter(pk=dispute_id).first()
    if dispute is None:
        raise NotFound(f"Dispute {dispute_id} does not exist.")

    packet_name = packet_sha = ""
    snapshot_ids: frozenset[int] | None = None
    storage = Dispute._meta.get_field("packet").storage
    if not _submit_refusal(dispute, actor=actor, override=override, reason=reason):
        snapshot = packet_snapshot(dispute_id=dispute_id)
        pdf = packet_render(snapshot)
        packet_sha = hashlib.sha256(pdf).hexdigest()
        packet_name = storage.save(packet_upload_to(dispute, "packet.pdf"), ContentFile(pdf))
        snapshot_ids = snapshot.evidence_ids

    try:
        submitted = dispute_run_transition(
            SUBMIT_EVIDENCE, dispute_id=dispute_id, actor=actor, reason=reason, expected_state=expected_state,
            params={"override": override, "snapshot_ids": snapshot_ids, "packet_name": packet_name,
                    "packet_sha256": packet_sha})
        from .psp_evidence import psp_evidence_enqueue

        psp_evidence_enqueue(submitted.pk)  # after commit: the evidence goes to the PSP (disputes.psp_evidence)
        return submitted
    except BaseException:
        if packet_name:
            storage.delete(packet_name)
        raise


def dispute_accept(*, dispute_id: int, actor: Any, reason: str = "", expected_state: str | None = None) -> Dispute:
    """A team lead concedes: liability accepted, the money is lost (an open proposal to accept is accepted)."""
    return dispute_run_transition(ACCEPT, dispute_id=dispute_id, actor=actor, reason=reason,
                                  expected_state=expected_state)


def dispute_expire(*, dispute_id: int, actor: Any, reason: str = "", expected_state: str | None = None) -> Dispute:
    """System only, once ``due_at`` has passed without a response: the money is lost, so flagged like
    ``mark_lost`` when, with the payment's refunds, more than was captured is gone."""
    return dispute_run_transition(EXPIRE, dispute_id=dispute_id, actor=actor, reason=reason,
                                  expected_state=expected_state)


def dispute_mark_won(*, dispute_id: int, actor: Any, reason: str = "", expected_state: str | None = None) -> Dispute:
    return dispute_run_transition(MARK_WON, dispute_id=dispute_id, actor=actor, reason=reason,
                                  expected_state=expected_state)


def dispute_mark_lost(*, dispute_id: int, actor: Any, reason: str = "",
                      expected_state: str | None = None) -> Dispute:
    """The network decided against us; flagged when, with the payment's refunds, more than was captured is gone."""
    return dispute_run_transition(MARK_LOST, dispute_id=dispute_id, actor=actor, reason=reason,
                                  expected_state=expected_state)


def dispute_reopen(*, dispute_id: int, actor: Any, reason: str = "", due_at: datetime | None = None,
                   expected_state: str | None = None) -> Dispute:
    """won/lost → needs_response at the next stage (pre-arbitration, then arbitration) with a new deadline."""
    return dispute_run_transition(REOPEN, dispute_id=dispute_id, actor=actor, reason=reason,
                                  expected_state=expected_state, params={"due_at": due_at})


def dispute_move_deadline(*, dispute_id: int, due_at: datetime, actor: Any, reason: str = "") -> Dispute:
    """The PSP moved the response deadline of an open dispute (e.g. Stripe's ``evidence_details.due_by``
    changed): set ``due_at`` and the internal due date before it, journaled as ``move_deadline``.
    Reminders and escalation start a new series for the new date (their claims are per due date)."""
    if timezone.is_naive(due_at):
        raise InvalidInput("due_at must carry a time zone (UTC).", code="invalid_due_at")
    policy.require("move_deadline", actor)
    row = Dispute.objects.filter(pk=dispute_id).values("payment_id", "reason_code_id").first()
    if row is None:
        raise NotFound(f"Dispute {dispute_id} does not exist.")
    with transaction.atomic():
        payment_lock(row["payment_id"])
        dispute = lock_case(Dispute, dispute_id, nowait=False)
        if dispute.state not in EVIDENCE_OPEN_STATES:
            raise Conflict(f"{dispute.reference} is '{dispute.state}': its deadline no longer moves.",
                           code="deadline_closed")
        if due_at <= timezone.now():
            raise InvalidInput("The new due date must be in the future.", code="invalid_due_at")
        before = dispute.due_at
        due, internal_due = dispute_deadlines(reason_code=dispute.reason_code, start=timezone.now(), due_at=due_at)
        Dispute.objects.filter(pk=dispute.pk).update(due_at=due, internal_due_at=internal_due,
                                                     updated_at=timezone.now())
        journal_record(
            case_type=Dispute.CASE_TYPE, case_id=dispute.pk, case_reference=dispute.reference or "",
            transition="move_deadline", source=dispute.state, target=dispute.state, actor=actor,
            reason=(reason or "").strip(),
            context={"due_at_before": before.isoformat() if before else None, "due_at": due.isoformat()},
        )
        dispute.due_at, dispute.internal_due_at = due, internal_due
    return dispute


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, list | tuple):
        value = value[-1] if value else ""
    return str(value or "").strip().lower() in TRUTHY


def dispute_transition(*, case_id: int, name: str, actor: Any, reason: str = "",
                       data: dict[str, Any] | None = None) -> Dispute:
    """The registry's dispatcher: pages, the API and the admin call transitions through here."""
    data = data or {}
    expected = data.get("expected_state") or None
    common = {"dispute_id": case_id, "actor": actor, "reason": reason, "expected_state": expected}
    if name == "submit_evidence":
        return dispute_submit_evidence(**common, override=_truthy(data.get("override")))
    if name == "open_chargeback":
        return dispute_open_chargeback(**common, due_at=parse_due_at(data.get("due_at")))
    if name == "reopen":
        return dispute_reopen(**common, due_at=parse_due_at(data.get("due_at")))
    simple = {
        "close_inquiry": dispute_close_inquiry,
        "accept": dispute_accept,
        "expire": dispute_expire,
        "mark_won": dispute_mark_won,
        "mark_lost": dispute_mark_lost,
    }
    if name in simple:
        return simple[name](**common)
    # Anything else is refused (and recorded) by the transition service as ``unknown_transition``.
    return dispute_run_transition(Transition(model=Dispute, name=name), dispute_id=case_id, actor=actor,
                                  reason=reason, expected_state=expected)


def disputes_escalate_overdue(*, now: datetime | None = None, limit: int, leads: Callable[[], Sequence[Any]],
                             actor: Any = CELERY) -> tuple[int, list[int]]:
    """Escalate up to ``limit`` overdue disputes to the team leads, all in one transaction.

    The disputes are locked (``SKIP LOCKED``: one a person is changing right now waits for the next
    run), each escalation is claimed (``case_alert_once``: a second scheduler gets nothing), and for
    the claims won ``escalated_at`` is stamped, ``escalate`` journaled and the leads notified. A crash
    anywhere rolls all of it back together, so an escalation is never claimed without its stamp.
    Returns how many disputes were selected and the ids escalated by this call. ``leads`` is called
    only when there is something to escalate.
    """
    from backoffice.notifications.services import AlertSpec, alerts_claim

    now = now or timezone.now()
    with transaction.atomic():
        qs = disputes_due_for_escalation(now=now)
        if connection.features.has_select_for_update_skip_locked and connection.features.has_select_for_update_of:
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        rows = list(qs.only("pk", "reference", "state", "internal_due_at")[:limit])
        if not rows:
            return 0, []
        people = list(leads())
        claimed = alerts_claim(alerts=[AlertSpec(
            case_type=Dispute.CASE_TYPE, case_id=row.pk, case_reference=row.reference or "", kind="escalation",
            due_at=row.internal_due_at, offset_days=0, recipients=people,
            title=f"{row.reference}: past its internal due date",
            body=f"Still needs a response; internal due was {row.internal_due_at:%Y-%m-%d %H:%M} UTC.",
            url=reverse("disputes:detail", args=[row.pk]),
        ) for row in rows])
        won = {alert.case_id for alert in claimed.alerts}
        Dispute.objects.filter(pk__in=won).update(escalated_at=now)
        for row in rows:
            if row.pk in won:
                journal_record(
                    case_type=Dispute.CASE_TYPE, case_id=row.pk, case_reference=row.reference or "",
                    transition="escalate", source=row.state, target=row.state, actor=actor,
                    context={"internal_due_at": row.internal_due_at.isoformat(),
                             "team_leads": len(people)},
                )
    if won:
        logger.info("disputes_escalated count=%s actor=%s", len(won), actor_label(actor))
    return len(rows), sorted(won)


# ---------------------------------------------------------------- cover letter

COVER_LETTER_MAX_CHARS = 20_000


def dispute_cover_letter_save(*, dispute_id: int, actor: Any, body: str) -> CoverLetter | None:
    """Save this dispute's own cover letter (an empty body goes back to the reason code's template).

    Only while evidence can still be added; journaled as ``edit_cover_letter`` with the text's SHA-256.
    """
    body = (body or "").replace("\r\n", "\n").strip()
    policy.require("edit_cover_letter", actor)
    if len(body) > COVER_LETTER_MAX_CHARS:
        raise InvalidInput(f"A cover letter is limited to {COVER_LETTER_MAX_CHARS} characters.",
                           code="cover_letter_too_long")
    with transaction.atomic():
        dispute = lock_case(Dispute, dispute_id)
        if dispute.state not in EVIDENCE_OPEN_STATES:
            raise Conflict(f"{dispute.reference} is '{dispute.state}': its cover letter can no longer change.",
                           code="evidence_closed")
        letter = None
        if body:
            letter, _ = CoverLetter.objects.update_or_create(dispute=dispute,
                                                             defaults={"body": body, "updated_by": actor})
        else:
            CoverLetter.objects.filter(dispute=dispute).delete()
        journal_record(
            case_type=Dispute.CASE_TYPE, case_id=dispute.pk, case_reference=dispute.reference or "",
            transition="edit_cover_letter", source=dispute.state, target=dispute.state, actor=actor,
            context={"sha256": hashlib.sha256(body.encode()).hexdigest() if body else "",
                     "reset_to_template": not body},
        )
    return letter


# ---------------------------------------------------------------- proposals to accept liability

PROPOSAL_REASON_MAX_CHARS = 2000


def dispute_propose_accept(*, dispute_id: int, actor: Any, reason: str) -> AcceptanceProposal:
    """A specialist proposes accepting liability (with a reason); it waits in the team leads' approvals queue."""
    reason = (reason or "").strip()
    try:
        policy.require("propose_accept", actor)
        if not reason:
            raise InvalidInput("Say why liability should be accepted.", code="reason_required")
        if len(reason) > PROPOSAL_REASON_MAX_CHARS:
            raise InvalidInput(f"A reason is limited to {PROPOSAL_REASON_MAX_CHARS} characters.",
                               code="reason_too_long")
        with transaction.atomic():
            dispute = lock_case(Dispute, dispute_id)
            if dispute.state != DisputeState.NEEDS_RESPONSE:
                raise Conflict(f"{dispute.reference} is '{dispute.state}': only a dispute that needs a response "
                               "can be accepted.", code="transition_not_allowed")
            if AcceptanceProposal.objects.filter(dispute=dispute, decision=AcceptanceProposal.Decision.OPEN).exists():
                raise Conflict(f"{dispute.reference} already has an open proposal to accept liability.",
                               code="proposal_exists")
            proposal = AcceptanceProposal.objects.create(dispute=dispute, proposed_by=actor, reason=reason)
            journal_record(
                case_type=Dispute.CASE_TYPE, case_id=dispute.pk, case_reference=dispute.reference or "",
                transition="propose_accept", source=dispute.state, target=dispute.state, actor=actor,
                reason=reason, context={"proposal_id": proposal.pk},
            )
    except (PermissionDenied, Conflict) as err:
        denial_record(err, case_type=Dispute.CASE_TYPE, case_id=dispute_id, action="propose_accept", actor=actor)
        raise
    return proposal


def _close_open_proposal(*, dispute: Dispute, actor: Any, decision: str, reason: str) -> None:
    AcceptanceProposal.objects.filter(dispute=dispute, decision=AcceptanceProposal.Decision.OPEN).update(
        decision=decision, decided_by=actor, decision_reason=reason, decided_at=timezone.now())


def dispute_decline_proposal(*, dispute_id: int, actor: Any, reason: str) -> AcceptanceProposal:
    """A team lead declines a proposal to accept liability (the dispute stays to be fought); journaled."""
    reason = (reason or "").strip()
    try:
        policy.require("decline_accept_proposal", actor)
        if not reason:
            raise InvalidInput("Say why the dispute should be fought.", code="reason_required")
        with transaction.atomic():
            dispute = lock_case(Dispute, dispute_id)
            proposal = AcceptanceProposal.objects.filter(dispute=dispute,
                                                         decision=AcceptanceProposal.Decision.OPEN).first()
            if proposal is None:
                raise Conflict(f"{dispute.reference} has no open proposal to accept liability.",
                               code="no_open_proposal")
            _close_open_proposal(dispute=dispute, actor=actor, decision=AcceptanceProposal.Decision.DECLINED,
                                 reason=reason)
            journal_record(
                case_type=Dispute.CASE_TYPE, case_id=dispute.pk, case_reference=dispute.reference or "",
                transition="decline_accept_proposal", source=dispute.state, target=dispute.state, actor=actor,
                reason=reason, context={"proposal_id": proposal.pk},
            )
            proposal.refresh_from_db()
    except (PermissionDenied, Conflict) as err:
        denial_record(err, case_type=Dispute.CASE_TYPE, case_id=dispute_id, action="decline_accept_proposal",
                      actor=actor)
        raise
    return proposal


def cover_letter_template_set(*, actor: Any, reason_code: ReasonCode, body: str) -> CoverLetterTemplate:
    """Set (or with an empty body remove) the cover letter a reason code starts from; team leads only."""
    body = (body or "").replace("\r\n", "\n").strip()
    policy.require("edit_cover_letter_template", actor)
    if len(body) > COVER_LETTER_MAX_CHARS:
        raise InvalidInput(f"A cover letter is limited to {COVER_LETTER_MAX_CHARS} characters.",
                           code="cover_letter_too_long")
    with transaction.atomic():
        if not body:
            CoverLetterTemplate.objects.filter(reason_code=reason_code).delete()
            template = CoverLetterTemplate(reason_code=reason_code, body="")
        else:
            template, _ = CoverLetterTemplate.objects.update_or_create(
                reason_code=reason_code, defaults={"body": body, "updated_by": actor})
    logger.info("cover_letter_template_set reason_code=%s actor=%s removed=%s", reason_code.pk, actor_label(actor),
                not body)
    return template
