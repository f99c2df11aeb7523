"""Refund events from the PSPs, registered with the webhook intake (``backoffice.webhooks``).

Stripe ``refund.created|updated|failed`` carry a ``refund`` object; ``charge.refunded`` a ``charge``
whose ``refunds.data`` lists its refunds. Adyen ``REFUND`` (success true/false), ``REFUND_FAILED``
and ``REFUNDED_REVERSED`` name the refund in ``pspReference``, the payment in ``originalReference``
and our refund reference in ``merchantReference``. Our refund is found by the PSP's refund id, else
by the reference we sent; a refund we never asked for (made in the PSP's dashboard) appears as a
refund case already succeeded; a failure after success voids the credit note.
"""

from __future__ import annotations

from typing import Any

from backoffice.actors import WEBHOOK_ADYEN, WEBHOOK_STRIPE
from backoffice.gateway import RefundResult, RefundStatus
from backoffice.gateway.stripe_gateway import refund_result
from backoffice.webhooks.registry import Outcome, PspEvent, register
from invoices.models import Payment

from .psp import refund_apply_psp_status, refund_find_psp, refund_record_external


def _payment(*, psp: str, references: list[str], payment_id: int | None) -> Payment | None:
    if payment_id is not None:
        return Payment.objects.filter(pk=payment_id).first()
    refs = [ref for ref in references if ref]
    return Payment.objects.filter(psp=psp, psp_reference__in=refs).order_by("pk").first() if refs else None


def _id(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def _apply(*, psp: str, result: RefundResult, amount_minor: int, currency: str, reference: str,
           payment_refs: list[str], payment_id: int | None, actor: Any, label: str) -> Outcome:
    refund = refund_find_psp(psp_refund_id=result.psp_refund_id, reference=reference)
    if refund is not None:
        refund, done = refund_apply_psp_status(refund=refund, result=result, actor=actor)
        if not done:
            return Outcome.ignored(f"{refund.reference} is '{refund.state}': {label} '{result.status}' changes "
                                   "nothing.", refund)
        return Outcome.applied(f"{refund.reference}: {done}.", refund)
    if result.status != RefundStatus.SUCCEEDED:
        return Outcome.ignored(f"Refund {result.psp_refund_id} is not ours and not succeeded "
                               f"('{result.status}'): nothing was refunded yet.")
    payment = _payment(psp=psp, references=payment_refs, payment_id=payment_id)
    if payment is None:
        return Outcome.unmatched(f"Refund {result.psp_refund_id} is for an unknown payment "
                                 f"{next((r for r in payment_refs if r), '(none named)')}.")
    refund = refund_record_external(payment=payment, amount_minor=amount_minor, currency=currency,
                                    psp_refund_id=result.psp_refund_id, actor=actor)
    return Outcome.applied(f"{refund.reference}: refund made at the PSP recorded as succeeded.", refund)


# ---------------------------------------------------------------- Stripe


def _stripe_refund(obj: dict[str, Any], *, payment_id: int | None) -> Outcome:
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    amount = obj.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0 or not _id(obj.get("id")):
        return Outcome.ignored("The refund object has no id or amount: stored only.")
    return _apply(psp="stripe", result=refund_result(obj), amount_minor=amount,
                  currency=str(obj.get("currency") or "").upper(),
                  reference=str(metadata.get("refund_reference") or ""),
                  payment_refs=[_id(obj.get("charge")), _id(obj.get("payment_intent"))], payment_id=payment_id,
                  actor=WEBHOOK_STRIPE, label="Stripe says")


def apply_stripe_refund(event: PspEvent, *, payment_id: int | None = None) -> Outcome:
    return _stripe_refund(event.data, payment_id=payment_id)


def apply_stripe_charge_refunded(event: PspEvent, *, payment_id: int | None = None) -> Outcome:
    charge = event.data
    listed = (charge.get("refunds") or {}).get("data") if isinstance(charge.get("refunds"), dict) else None
    if not listed:
        return Outcome.ignored("charge.refunded without its refunds listed: the refund.* events carry them.")
    outcomes = []
    for item in listed:
        if isinstance(item, dict):
            item = {**item, "charge": item.get("charge") or charge.get("id")}
            outcomes.append(_stripe_refund(item, payment_id=payment_id))
    applied = [o for o in outcomes if o.status == "applied"]
    if any(o.status == "unmatched" for o in outcomes) and not applied:
        return Outcome.unmatched("; ".join(o.detail for o in outcomes)[:500])
    first = applied[0] if applied else (outcomes[0] if outcomes else None)
    detail = "; ".join(o.detail for o in outcomes)[:500]
    if applied:
        return Outcome("applied", detail, first.case_type, first.case_id, first.case_reference)
    return Outcome("ignored", detail or "Nothing to apply.", *((first.case_type, first.case_id, first.case_reference)
                                                               if first else ("", None, "")))


register(psp="stripe", event_types=["refund.created", "refund.updated", "refund.failed"], handler=apply_stripe_refund)
register(psp="stripe", event_types=["charge.refunded"], handler=apply_stripe_charge_refunded)


# ---------------------------------------------------------------- Adyen


def apply_adyen_refund(event: PspEvent, *, payment_id: int | None = None) -> Outcome:
    item = event.data
    amount = item.get("amount") or {}
    value = amount.get("value")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return Outcome.ignored("The notification has no usable amount: stored only.")
    success = str(item.get("success") or "").lower() == "true"
    reason = str(item.get("reason") or "")
    if event.type == "REFUND" and success:
        result = RefundResult(RefundStatus.SUCCEEDED, psp_refund_id=event.object_id)
    elif event.type == "REFUND":
        result = RefundResult(RefundStatus.FAILED, psp_refund_id=event.object_id, failure_code="refund_refused",
                              failure_message=reason[:500])
    elif success:  # REFUND_FAILED / REFUNDED_REVERSED with success=true: it happened
        code = "refund_failed" if event.type == "REFUND_FAILED" else "refund_reversed"
        result = RefundResult(RefundStatus.FAILED, psp_refund_id=event.object_id, failure_code=code,
                              failure_message=reason[:500])
    else:
        return Outcome.ignored(f"{event.type} with success=false: nothing happened at Adyen.")
    return _apply(psp="adyen", result=result, amount_minor=value, currency=str(amount.get("currency") or "").upper(),
                  reference=str(item.get("merchantReference") or ""),
                  payment_refs=[event.payment_reference], payment_id=payment_id, actor=WEBHOOK_ADYEN,
                  label=f"Adyen {event.type}")


register(psp="adyen", event_types=["REFUND", "REFUND_FAILED", "REFUNDED_REVERSED"], handler=apply_adyen_refund)
