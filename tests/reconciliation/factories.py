"""A small ledger and the settlement reports a PSP would send for it, with planted breaks.

``scenario(psp)`` builds payments, a succeeded refund and a chargeback in our ledger, and report items
that settle them — plus one planted break of every kind the matching finds. ``planted`` lists
``(kind, amount_minor)`` of each; ``report(...)`` writes the PSP's CSV.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from reconciliation.report_files import Item, adyen_report, stripe_report
from tests.invoices.factories import PaymentFactory
from tests.refunds.factories import RefundFactory, make_dispute

_n = itertools.count(1)


def ref(psp: str, kind: str = "charge") -> str:
    n = next(_n)
    if psp == "stripe":
        return {"charge": f"ch_recon{n:08d}", "refund": f"re_recon{n:08d}", "dispute": f"dp_recon{n:08d}"}[kind]
    return f"{ {'charge': 'P', 'refund': 'R', 'dispute': 'D'}[kind] }RECON{n:010d}"


def report(psp: str, items: list[Item], *, payout_delta_minor: int = 0, at: datetime | None = None,
           batch: str | None = None) -> bytes:
    at = at or timezone.now() - timedelta(days=8)
    batch = batch or f"{next(_n)}"
    if psp == "stripe":
        text = stripe_report(items, payout_id=f"po_recon{batch}", payout_at=at, payout_delta_minor=payout_delta_minor,
                             txn_prefix=f"txn_{batch}_")
    else:
        text = adyen_report(items, batch=batch, payout_at=at, payout_delta_minor=payout_delta_minor)
    return text.encode()


@dataclass
class Scenario:
    psp: str
    items: list[Item] = field(default_factory=list)
    planted: list[tuple[str, int]] = field(default_factory=list)
    payments: list = field(default_factory=list)
    unsettled: object = None  # the payment left out of the report (not_settled)
    captured: datetime | None = None

    def charge_item(self, payment, **kw) -> Item:
        return Item(kind="charge", reference=payment.psp_reference, amount_minor=kw.pop("amount_minor",
                    payment.amount_minor), currency=kw.pop("currency", payment.currency), at=payment.captured_at,
                    fee_minor=kw.pop("fee_minor", 290), **kw)


def scenario(psp: str) -> Scenario:
    captured = timezone.now() - timedelta(days=10)
    s = Scenario(psp=psp, captured=captured)
    p = [PaymentFactory(psp=psp, psp_reference=ref(psp), amount_minor=10_000, currency="USD", captured_at=captured)
         for _ in range(6)]
    s.payments = p
    refund = RefundFactory(payment=p[0], amount_minor=2_000, state="succeeded", psp_refund_id=ref(psp, "refund"),
                           succeeded_at=captured)
    dispute = make_dispute(payment=p[1], state="needs_response")
    from disputes.models import Dispute

    Dispute.objects.filter(pk=dispute.pk).update(psp=psp)
    at = captured + timedelta(hours=1)
    # Lines that match.
    s.items += [s.charge_item(p[0]), s.charge_item(p[1]),
                Item(kind="refund", reference=refund.psp_refund_id, payment_reference=p[0].psp_reference,
                     amount_minor=2_000, currency="USD", at=at),
                Item(kind="dispute", reference=dispute.psp_dispute_id, payment_reference=p[1].psp_reference,
                     amount_minor=dispute.amount_minor, currency=dispute.currency, at=at)]
    # Planted breaks, one of each kind.
    s.items.append(Item(kind="charge", reference=ref(psp), amount_minor=5_000, currency="USD", at=at, fee_minor=150))
    s.planted.append(("missing_in_ledger", 5_000))
    s.items.append(s.charge_item(p[2], amount_minor=9_900))
    s.planted.append(("amount_mismatch", 100))
    s.items.append(s.charge_item(p[3], currency="EUR"))
    s.planted.append(("currency_mismatch", 10_000))
    s.items.append(Item(kind="refund", reference=ref(psp, "refund"), payment_reference=p[0].psp_reference,
                        amount_minor=1_500, currency="USD", at=at))
    s.planted.append(("refund_mismatch", 1_500))
    s.items.append(Item(kind="dispute", reference=ref(psp, "dispute"), payment_reference=p[4].psp_reference,
                        amount_minor=7_000, currency="USD", at=at))
    s.planted.append(("dispute_mismatch", 7_000))
    s.items.append(s.charge_item(p[0]))  # settled a second time
    s.planted.append(("duplicate", 10_000))
    s.items.append(s.charge_item(p[4], fee_minor=900))  # 9 % of the gross
    s.planted.append(("fee_out_of_band", 900))
    s.unsettled = p[5]  # never in the report
    s.planted.append(("not_settled", 10_000))
    s.planted.append(("payout_mismatch", 123))
    return s
