"""Demo reconciliation: one settlement report per PSP generated from the demo ledger, with planted breaks.

``seed(rng=random.Random(seed))`` writes a Stripe itemized balance-change report and an Adyen
settlement details report (``reconciliation.report_files``) settling every Stripe / Adyen payment
captured between 40 and 8 days ago, and imports them as ``system:reconciliation`` — so the queue,
the dashboard and /metrics have breaks of every kind: two charges missing in our ledger, two
payments left unsettled, two amounts and one currency that differ, a refund and a chargeback we do not
have, a payment settled twice, a fee outside the band and a payout that does not add up. Idempotent:
a PSP whose demo report was imported already is skipped. The files are kept under
``MEDIA_ROOT/settlement-demo/`` to look at or import again by hand.
"""

from __future__ import annotations

import io
import logging
import random
from dataclasses import replace
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.utils import timezone

from backoffice.errors import DomainError
from invoices.models import Payment

from .imports import settlement_import
from .matching import DISPUTE_CHARGEBACK_STATES
from .models import RECONCILIATION, SettlementImport
from .report_files import Item, adyen_report, stripe_report

logger = logging.getLogger(__name__)

FEE_PER_MILLE = 29  # 2.9 %: inside the expected band


def _fee(amount_minor: int) -> int:
    return amount_minor * FEE_PER_MILLE // 1000


def _fake_ref(psp: str, rng: random.Random, kind: str) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    if psp == "stripe":
        prefix = {"charge": "ch_3", "refund": "re_3", "dispute": "dp_1"}[kind]
        return prefix + "".join(rng.choices(alphabet + alphabet.lower(), k=23))
    return "".join(rng.choices(alphabet, k=16))


def report_for(psp: str, *, rng: random.Random) -> tuple[bytes, list[str]] | None:
    """The demo report of ``psp`` and what was planted in it, or None when the ledger has too few payments."""
    now = timezone.now()
    payments = list(Payment.objects.filter(psp=psp, captured_at__gte=now - timedelta(days=40),
                                           captured_at__lt=now - timedelta(days=8)).order_by("captured_at", "pk"))
    if len(payments) < 12:
        return None
    items = [Item(kind="charge", reference=p.psp_reference, amount_minor=p.amount_minor, currency=p.currency,
                  at=p.captured_at, fee_minor=_fee(p.amount_minor)) for p in payments]
    latest = payments[-1].captured_at  # planted lines stay inside the period the report covers

    def within(at):
        return min(at, latest)

    # Never the first or last payment: the period a report covers runs from its first line to its last.
    picks = rng.sample(range(1, len(items) - 1), 2)
    planted = []
    # In our ledger, not settled: left out of the report.
    for index in sorted(picks, reverse=True):
        planted.append(f"not_settled {items[index].reference}")
        del items[index]
    picks = rng.sample(range(len(items)), 6)
    for index in picks[:2]:  # the PSP settled a little less than we captured
        item = items[index]
        short = item.amount_minor - max(1, min(100, item.amount_minor // 10))
        items[index] = replace(item, amount_minor=short, fee_minor=_fee(short))
        planted.append(f"amount_mismatch {item.reference}")
    item = items[picks[2]]
    items[picks[2]] = replace(item, currency="EUR" if item.currency != "EUR" else "USD")
    planted.append(f"currency_mismatch {item.reference}")
    item = items[picks[3]]
    items.append(replace(item, at=within(item.at + timedelta(hours=20))))  # settled a second time
    planted.append(f"duplicate {item.reference}")
    item = items[picks[4]]
    items[picks[4]] = replace(item, fee_minor=item.amount_minor * 9 // 100)  # 9 % of the gross
    planted.append(f"fee_out_of_band {item.reference}")
    other = items[picks[5]]
    for _ in range(2):
        ref = _fake_ref(psp, rng, "charge")
        amount = rng.randrange(2_000, 90_000)
        items.append(Item(kind="charge", reference=ref, amount_minor=amount, currency=other.currency,
                          at=within(other.at + timedelta(hours=rng.randint(1, 30))), fee_minor=_fee(amount)))
        planted.append(f"missing_in_ledger {ref}")
    refund_ref, dispute_ref = _fake_ref(psp, rng, "refund"), _fake_ref(psp, rng, "dispute")
    items.append(Item(kind="refund", reference=refund_ref, payment_reference=other.reference,
                      amount_minor=other.amount_minor // 2 or 1, currency=other.currency,
                      at=within(other.at + timedelta(days=2))))
    planted.append(f"refund_mismatch {refund_ref}")
    items.append(Item(kind="dispute", reference=dispute_ref, payment_reference=other.reference,
                      amount_minor=other.amount_minor, currency=other.currency, at=within(other.at + timedelta(days=3)),
                      fee_minor=1_500 if psp == "stripe" else 0))
    planted.append(f"dispute_mismatch {dispute_ref}")
    items += _settled_refunds_and_chargebacks(psp, start=payments[0].captured_at, end=latest)
    items.sort(key=lambda i: i.at)
    payout_at = now - timedelta(days=7)
    planted.append("payout_mismatch")
    if psp == "stripe":
        text = stripe_report(items, payout_id="po_1DemoPayout", payout_at=payout_at, payout_delta_minor=1_234,
                             txn_prefix="txn_1Demo")
    else:
        text = adyen_report(items, batch="1042", payout_at=payout_at, payout_delta_minor=1_234)
    return text.encode(), planted


def _settled_refunds_and_chargebacks(psp: str, *, start, end) -> list[Item]:
    """The demo ledger's refunds and chargebacks of the period, as the PSP settles them (they match)."""
    Refund = apps.get_model("refunds", "Refund")
    Dispute = apps.get_model("disputes", "Dispute")
    items = [Item(kind="refund", reference=r.psp_refund_id, payment_reference=r.payment.psp_reference,
                  amount_minor=r.amount_minor, currency=r.currency, at=r.succeeded_at)
             for r in Refund.objects.filter(payment__psp=psp, state="succeeded", succeeded_at__gte=start,
                                            succeeded_at__lte=end).exclude(psp_refund_id="").select_related("payment")]
    items += [Item(kind="dispute", reference=d.psp_dispute_id, payment_reference=d.payment.psp_reference,
                   amount_minor=d.amount_minor, currency=d.currency, at=d.created_at)
              for d in Dispute.objects.filter(psp=psp, state__in=DISPUTE_CHARGEBACK_STATES, created_at__gte=start,
                                              created_at__lte=end).select_related("payment")]
    return items


def seed(*, rng: random.Random) -> None:
    for psp in ("stripe", "adyen"):
        if SettlementImport.objects.filter(psp=psp, source="demo").exists():
            continue
        built = report_for(psp, rng=rng)
        if built is None:
            logger.info("reconciliation_demo_skipped psp=%s: too few payments in the demo ledger", psp)
            continue
        content, planted = built
        name = f"demo-{psp}-{'balance-change-itemized' if psp == 'stripe' else 'settlement-details-1042'}.csv"
        folder = settings.MEDIA_ROOT / "settlement-demo"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
        try:
            job = settlement_import(psp=psp, binary=io.BytesIO(content), file_name=name, actor=RECONCILIATION,
                                    source="demo")
        except DomainError as err:
            logger.warning("reconciliation_demo_refused psp=%s code=%s message=%s", psp, err.code, err.message)
            continue
        logger.info("reconciliation_demo_imported psp=%s import_id=%s lines=%s breaks=%s planted=%s", psp, job.pk,
                    job.line_count, job.break_count, len(planted))
