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

from .models import DisputeStage, DisputeState, Network
from .psp import PSP_EXPIRED, PspDispute, dispute_find_psp, dispute_from_psp, dispute_record_psp_fact

STRIPE_DISPUTE_EVENTS = (
    "charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed",
    "charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated",
)
# Stripe's dispute status → our state.
STRIPE_STATUS = {
    "warning_needs_response": DisputeState.INQUIRY,
    "warning_under_review": DisputeState.INQUIRY,
    "warning_closed": DisputeState.CLOSED,
    "needs_response": DisputeState.NEEDS_RESPONSE,
    "under_review": DisputeState.UNDER_REVIEW,
    "won": DisputeState.WON,
    "lost": DisputeState.LOST,
}
# Card brands / scheme codes → our networks.
BRANDS = {
    "visa": Network.VISA, "mastercard": Network.MASTERCARD, "mc": Network.MASTERCARD, "amex": Network.AMEX,
    "american_express": Network.AMEX, "discover": Network.DISCOVER, "diners": Network.DISCOVER,
    "jcb": Network.JCB, "unionpay": Network.UNIONPAY, "cup": Network.UNIONPAY,
}
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


# ---------------------------------------------------------------- Stripe


def stripe_reported(dispute: dict[str, Any]) -> PspDispute:
    card = ((dispute.get("payment_method_details") or {}).get("card") or {})
    brand = str(card.get("brand") or card.get("network") or "").lower()
    due_by = (dispute.get("evidence_details") or {}).get("due_by")
    status = str(dispute.get("status") or "")
    return PspDispute(
        psp="stripe", psp_dispute_id=str(dispute.get("id") or ""), amount_minor=_int(dispute.get("amount")),
        currency=str(dispute.get("currency") or "").upper(), network=BRANDS.get(brand, Network.OTHER),
        reason_code=str(card.get("network_reason_code") or dispute.get("reason") or ""),
        state=STRIPE_STATUS.get(status, ""),
        stage=DisputeStage.INQUIRY if status.startswith("warning_") else DisputeStage.CHARGEBACK,
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
    dispute = dispute_find_psp(psp="stripe", psp_dispute_id=reported.psp_dispute_id)
    payment = None
    if dispute is None:
        payment = _payment(psp="stripe", references=[_id(obj.get("charge")), _id(obj.get("payment_intent"))],
                           payment_id=payment_id)
        if payment is None:
            return Outcome.unmatched(
                f"No Stripe payment {_id(obj.get('charge')) or _id(obj.get('payment_intent')) or '(none named)'}: "
                "link it to a payment to create the dispute.")
    else:
        payment = dispute.payment
    dispute, taken = dispute_from_psp(reported=reported, payment=payment, actor=WEBHOOK_STRIPE,
                                      reason=f"Stripe {event.type} ({event.event_id})")
    fact = STRIPE_FACTS.get(event.type)
    if fact:
        dispute_record_psp_fact(dispute=dispute, actor=WEBHOOK_STRIPE, fact=fact, reason=f"Stripe {event.type}",
                                context={"event_id": event.event_id, "amount_minor": reported.amount_minor,
                                         "currency": reported.currency})
        taken.append(fact)
    if not taken:
        return Outcome.ignored(f"{dispute.reference} is already '{dispute.state}': nothing to change.", dispute)
    return Outcome.applied(f"{dispute.reference}: {', '.join(taken)}.", dispute)


register(psp="stripe", event_types=STRIPE_DISPUTE_EVENTS, handler=apply_stripe_dispute)


# ---------------------------------------------------------------- Adyen

ADYEN_DISPUTE_EVENTS = {
    # event code → (our target state, stage)
    "REQUEST_FOR_INFORMATION": (DisputeState.INQUIRY, DisputeStage.INQUIRY),
    "NOTIFICATION_OF_CHARGEBACK": (DisputeState.NEEDS_RESPONSE, DisputeStage.CHARGEBACK),
    "CHARGEBACK": (DisputeState.NEEDS_RESPONSE, DisputeStage.CHARGEBACK),
    "INFORMATION_SUPPLIED": (DisputeState.UNDER_REVIEW, DisputeStage.CHARGEBACK),
    "SECOND_CHARGEBACK": (DisputeState.LOST, DisputeStage.CHARGEBACK),
    "CHARGEBACK_REVERSED": (DisputeState.WON, DisputeStage.CHARGEBACK),
    "PREARBITRATION_WON": (DisputeState.WON, DisputeStage.PRE_ARBITRATION),
    "PREARBITRATION_LOST": (DisputeState.LOST, DisputeStage.PRE_ARBITRATION),
    "DISPUTE_DEFENSE_PERIOD_ENDED": (PSP_EXPIRED, DisputeStage.CHARGEBACK),
}
# ``additionalData.disputeStatus`` that settles the outcome whatever the event code says.
ADYEN_FINAL_STATUS = {"won": DisputeState.WON, "lost": DisputeState.LOST}
ADYEN_FACTS = {"CHARGEBACK": "psp_funds_withdrawn", "SECOND_CHARGEBACK": "psp_funds_withdrawn",
               "CHARGEBACK_REVERSED": "psp_funds_reinstated"}


def _adyen_due(additional: dict[str, Any]) -> datetime | None:
    return _due(str(additional.get("defensePeriodEndsAt") or ""))


def adyen_reported(item: dict[str, Any]) -> PspDispute:
    additional = item.get("additionalData") or {}
    amount = item.get("amount") or {}
    target, stage = ADYEN_DISPUTE_EVENTS[str(item.get("eventCode"))]
    status = str(additional.get("disputeStatus") or "").lower()
    if status in ADYEN_FINAL_STATUS and target != DisputeState.INQUIRY:
        target = ADYEN_FINAL_STATUS[status]
    scheme = str(additional.get("chargebackSchemeCode") or additional.get("rfiSchemeCode") or "").lower()
    return PspDispute(
        psp="adyen", psp_dispute_id=str(item.get("pspReference") or ""), amount_minor=_int(amount.get("value")),
        currency=str(amount.get("currency") or "").upper(), network=BRANDS.get(scheme, Network.OTHER),
        reason_code=str(additional.get("chargebackReasonCode") or additional.get("rfiReasonCode") or ""),
        state=target, stage=stage, due_at=_adyen_due(additional),
    )


def apply_adyen_dispute(event: PspEvent, *, payment_id: int | None = None) -> Outcome:
    item = event.data
    if str(item.get("success") or "").lower() != "true":
        return Outcome.ignored(f"{event.type} with success=false: nothing happened at Adyen.")
    try:
        reported = adyen_reported(item)
    except (TypeError, ValueError):
        return Outcome.ignored("The notification has no usable amount: stored only.")
    dispute = dispute_find_psp(psp="adyen", psp_dispute_id=reported.psp_dispute_id)
    if dispute is None:
        payment = _payment(psp="adyen", references=[event.payment_reference], payment_id=payment_id)
        if payment is None:
            return Outcome.unmatched(f"No Adyen payment {event.payment_reference or '(none named)'}: link it to a "
                                     "payment to create the dispute.")
    else:
        payment = dispute.payment
    dispute, taken = dispute_from_psp(reported=reported, payment=payment, actor=WEBHOOK_ADYEN,
                                      reason=f"Adyen {event.type}")
    fact = ADYEN_FACTS.get(event.type)
    if fact:
        dispute_record_psp_fact(dispute=dispute, actor=WEBHOOK_ADYEN, fact=fact, reason=f"Adyen {event.type}",
                                context={"psp_reference": reported.psp_dispute_id,
                                         "amount_minor": reported.amount_minor, "currency": reported.currency})
        taken.append(fact)
    if not taken:
        return Outcome.ignored(f"{dispute.reference} is already '{dispute.state}': nothing to change.", dispute)
    return Outcome.applied(f"{dispute.reference}: {', '.join(taken)}.", dispute)


register(psp="adyen", event_types=list(ADYEN_DISPUTE_EVENTS), handler=apply_adyen_dispute)
