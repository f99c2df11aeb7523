"""What a PSP reports about a dispute, in our terms (``disputes.psp.PspDispute``, the arguments of
``dispute_from_psp``): one mapping for both ways a report arrives, the webhooks (``disputes.webhooks``)
and the report files a team lead uploads (``disputes.report_import``)."""

from __future__ import annotations

from datetime import datetime

from .models import DisputeStage, DisputeState, Network
from .psp import PSP_EXPIRED, PspDispute

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
# Adyen's kind of dispute record — a notification's event code (``CHARGEBACK_REVERSED``) or a dispute
# report's Record Type (``Chargeback Reversed``), compared by ``adyen_kind`` → (our target state, stage).
ADYEN_KINDS = {
    "requestforinformation": (DisputeState.INQUIRY, DisputeStage.INQUIRY),
    "notificationofchargeback": (DisputeState.NEEDS_RESPONSE, DisputeStage.CHARGEBACK),
    "chargeback": (DisputeState.NEEDS_RESPONSE, DisputeStage.CHARGEBACK),
    "chargebackexternally": (DisputeState.NEEDS_RESPONSE, DisputeStage.CHARGEBACK),
    "informationsupplied": (DisputeState.UNDER_REVIEW, DisputeStage.CHARGEBACK),
    "secondchargeback": (DisputeState.LOST, DisputeStage.CHARGEBACK),
    "chargebackreversed": (DisputeState.WON, DisputeStage.CHARGEBACK),
    "chargebackreversedexternally": (DisputeState.WON, DisputeStage.CHARGEBACK),
    "prearbitrationwon": (DisputeState.WON, DisputeStage.PRE_ARBITRATION),
    "prearbitrationlost": (DisputeState.LOST, DisputeStage.PRE_ARBITRATION),
    "disputedefenseperiodended": (PSP_EXPIRED, DisputeStage.CHARGEBACK),
}
# Adyen's ``disputeStatus`` / ``Dispute Status`` that settles the outcome whatever the record's kind says.
ADYEN_FINAL_STATUS = {"won": DisputeState.WON, "lost": DisputeState.LOST}


def adyen_kind(text: str) -> str:
    """An Adyen record's kind as ``ADYEN_KINDS`` spells it: no spaces, underscores or capitals."""
    return text.replace(" ", "").replace("_", "").lower()


def stripe_dispute(*, psp_dispute_id: str, status: str, amount_minor: int, currency: str, brand: str,
                   reason_code: str, due_at: datetime | None) -> PspDispute:
    """A Stripe dispute; a status we do not track gives ``state=""``."""
    return PspDispute(
        psp="stripe", psp_dispute_id=psp_dispute_id, amount_minor=amount_minor, currency=currency.upper(),
        network=BRANDS.get(brand.lower(), Network.OTHER), reason_code=reason_code,
        state=STRIPE_STATUS.get(status, ""),
        stage=DisputeStage.INQUIRY if status.startswith("warning_") else DisputeStage.CHARGEBACK,
        due_at=due_at,
    )


def adyen_dispute(*, psp_dispute_id: str, kind: str, dispute_status: str, amount_minor: int, currency: str,
                  scheme: str, reason_code: str, due_at: datetime | None) -> PspDispute:
    """An Adyen dispute record; ``KeyError`` for a kind not in ``ADYEN_KINDS``."""
    target, stage = ADYEN_KINDS[adyen_kind(kind)]
    status = dispute_status.lower()
    if status in ADYEN_FINAL_STATUS and target != DisputeState.INQUIRY:
        target = ADYEN_FINAL_STATUS[status]
    return PspDispute(
        psp="adyen", psp_dispute_id=psp_dispute_id, amount_minor=amount_minor, currency=currency.upper(),
        network=BRANDS.get(scheme.lower(), Network.OTHER), reason_code=reason_code, state=target, stage=stage,
        due_at=due_at,
    )
