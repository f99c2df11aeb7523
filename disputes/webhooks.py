"""Dispute events from the PSPs, registered with the webhook intake (``backoffice.webhooks``).

Stripe ``charge.dispute.*`` events carry the whole dispute object, so any of them can create a
dispute we have not seen yet and bring it to the status Stripe reports; Adyen's dispute
notifications share the dispute's ``pspReference`` and name the payment in ``originalReference``.
The payment is found by the PSP's charge / payment-intent id (or the one a person linked in the
inbox); an event for a payment we do not know is kept ``unmatched``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backoffice.actors import WEBHOOK_ADYEN, WEBHOOK_STRIPE
from backoffice.parsing import InvalidValue, parse_amount_minor, parse_datetime_value
from backoffice.webhooks.registry import Outcome, PspEvent, register
from invoices.models import Payment

from .psp import PspDispute, dispute_find_psp, dispute_from_psp, dispute_record_psp_fact
from .reported import adyen_dispute, stripe_dispute

STRIPE_DISPUTE_EVENTS = (
    "charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed",
    "charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated",
)
STRIPE_FACTS = {"charge.dispute.funds_withdrawn": "psp_funds_withdrawn",
                "charge.dispute.funds_reinstated": "psp_funds_reinstated"}


def _payment(*, psp: str, references: list[str], payment_id: int | None) -> Payment | None:
    if payment_id is not None:
        return Payment.objects.filter(pk=payment_id).first()
    refs = [ref for ref in references if ref]
    if not refs:
        return None
    return Payment.objects.filter(psp=psp, psp_reference__in=refs).order_by("pk").first()


def _id(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int:
    try:
        return parse_amount_minor(value, min_value=None)
    except InvalidValue as err:
        raise ValueError(err.message) from err


def _due(value: Any) -> datetime | None:
    """A PSP's respond-by (Unix seconds or ISO 8601); outside the sane window it is treated as unknown."""
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            value = datetime.fromtimestamp(value, tz=UTC)
        return parse_datetime_value(value, field="due_at") if value not in (None, "") else None
    except (InvalidValue, OverflowError, OSError, ValueError):
        return None


def _apply(event: PspEvent, reported: PspDispute, *, label: str, references: list[str], payment_id: int | None,
           actor: str, reason: str, facts: dict[str, str], fact_context: dict[str, Any]) -> Outcome:
    """A reported dispute, found by its PSP id or created on the payment ``references`` name (or the one a
    person linked), brought to the reported state; an event that moves money is recorded as a fact."""
    dispute = dispute_find_psp(psp=reported.psp, psp_dispute_id=reported.psp_dispute_id)
    if dispute is None:
        payment = _payment(psp=reported.psp, references=references, payment_id=payment_id)
        if payment is None:
            named = next((ref for ref in references if ref), "(none named)")
            return Outcome.unmatched(f"No {label} payment {named}: link it to a payment to create the dispute.")
    else:
        payment = dispute.payment
    dispute, taken = dispute_from_psp(reported=reported, payment=payment, actor=actor, reason=reason)
    fact = facts.get(event.type)
    if fact:
        dispute_record_psp_fact(dispute=dispute, actor=actor, fact=fact, reason=f"{label} {event.type}",
                                context={**fact_context, "amount_minor": reported.amount_minor,
                                         "currency": reported.currency})
        taken.append(fact)
    if not taken:
        return Outcome.ignored(f"{dispute.reference} is already '{dispute.state}': nothing to change.", dispute)
    return Outcome.applied(f"{dispute.reference}: {', '.join(taken)}.", dispute)


# ---------------------------------------------------------------- Stripe


def stripe_reported(dispute: dict[str, Any]) -> PspDispute:
    card = ((dispute.get("payment_method_details") or {}).get("card") or {})
    due_by = (dispute.get("evidence_details") or {}).get("due_by")
    return stripe_dispute(
        psp_dispute_id=str(dispute.get("id") or ""), status=str(dispute.get("status") or ""),
        amount_minor=_int(dispute.get("amount")), currency=str(dispute.get("currency") or ""),
        brand=str(card.get("brand") or card.get("network") or ""),
        reason_code=str(card.get("network_reason_code") or dispute.get("reason") or ""),
        due_at=_due(due_by) if isinstance(due_by, int) else None,
    )


def apply_stripe_dispute(event: PspEvent, *, payment_id: int | None = None) -> Outcome:
    obj = event.data
    try:
        reported = stripe_reported(obj)
    except (TypeError, ValueError):
        return Outcome.ignored("The dispute object has no usable amount: stored only.")
    if not reported.psp_dispute_id or not reported.state:
        return Outcome.ignored(f"Dispute status {obj.get('status')!r} is not one we track: stored only.")
    return _apply(event, reported, label="Stripe", references=[_id(obj.get("charge")), _id(obj.get("payment_intent"))],
                  payment_id=payment_id, actor=WEBHOOK_STRIPE, reason=f"Stripe {event.type} ({event.event_id})",
                  facts=STRIPE_FACTS, fact_context={"event_id": event.event_id})


register(psp="stripe", event_types=STRIPE_DISPUTE_EVENTS, handler=apply_stripe_dispute)


# ---------------------------------------------------------------- Adyen

# The notifications' event codes (their target state and stage: ``disputes.reported.ADYEN_KINDS``).
ADYEN_DISPUTE_EVENTS = (
    "REQUEST_FOR_INFORMATION", "NOTIFICATION_OF_CHARGEBACK", "CHARGEBACK", "INFORMATION_SUPPLIED",
    "SECOND_CHARGEBACK", "CHARGEBACK_REVERSED", "PREARBITRATION_WON", "PREARBITRATION_LOST",
    "DISPUTE_DEFENSE_PERIOD_ENDED",
)
ADYEN_FACTS = {"CHARGEBACK": "psp_funds_withdrawn", "SECOND_CHARGEBACK": "psp_funds_withdrawn",
               "CHARGEBACK_REVERSED": "psp_funds_reinstated"}


def _adyen_due(additional: dict[str, Any]) -> datetime | None:
    return _due(str(additional.get("defensePeriodEndsAt") or ""))


def adyen_reported(item: dict[str, Any]) -> PspDispute:
    additional = item.get("additionalData") or {}
    amount = item.get("amount") or {}
    return adyen_dispute(
        psp_dispute_id=str(item.get("pspReference") or ""), kind=str(item.get("eventCode")),
        dispute_status=str(additional.get("disputeStatus") or ""), amount_minor=_int(amount.get("value")),
        currency=str(amount.get("currency") or ""),
        scheme=str(additional.get("chargebackSchemeCode") or additional.get("rfiSchemeCode") or ""),
        reason_code=str(additional.get("chargebackReasonCode") or additional.get("rfiReasonCode") or ""),
        due_at=_adyen_due(additional),
    )


def apply_adyen_dispute(event: PspEvent, *, payment_id: int | None = None) -> Outcome:
    item = event.data
    if str(item.get("success") or "").lower() != "true":
        return Outcome.ignored(f"{event.type} with success=false: nothing happened at Adyen.")
    try:
        reported = adyen_reported(item)
    except (TypeError, ValueError):
        return Outcome.ignored("The notification has no usable amount: stored only.")
    return _apply(event, reported, label="Adyen", references=[event.payment_reference], payment_id=payment_id,
                  actor=WEBHOOK_ADYEN, reason=f"Adyen {event.type}", facts=ADYEN_FACTS,
                  fact_context={"psp_reference": reported.psp_dispute_id})


register(psp="adyen", event_types=list(ADYEN_DISPUTE_EVENTS), handler=apply_adyen_dispute)
