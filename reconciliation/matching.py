"""Matching settlement lines to our ledger, and the breaks found between them.

Per chunk of lines (one query per kind of ledger object, whatever the chunk's size):

* a **charge** matches our payment by the PSP's charge id (Stripe ``charge_id`` / ``source_id``, then
  ``payment_intent_id``; Adyen ``Psp Reference``), then by merchant reference (our invoice number),
  amount, currency and a date window. Not found: ``missing_in_ledger``. Found with another currency
  or amount: ``currency_mismatch`` / ``amount_mismatch``. A fee outside the expected band (percent of
  gross): ``fee_out_of_band``;
* a **refund** matches our refund by the PSP's refund id (Stripe ``re_…``, Adyen ``Modification
  Reference``); none, or ours not succeeded: ``refund_mismatch``; another amount: ``amount_mismatch``;
* a **dispute** or **dispute reversal** matches our dispute by the PSP's dispute id; none:
  ``dispute_mismatch``.

After the last chunk: a payment settled a second time with another transaction (in this report or
an earlier one) is a ``duplicate``; a payout whose lines' net amounts do not add up to it is a
``payout_mismatch``; and our own side is checked the other way round — payments captured, refunds
succeeded and chargebacks opened in the period reports cover (from the PSP's first settled charge to
its last) and more than ``RECONCILIATION_NOT_SETTLED_AFTER_DAYS`` ago, that no report has settled, are
``not_settled`` / ``refund_mismatch`` / ``dispute_mismatch``.

A line that finds what it was missing closes the open break about it: ``auto_resolved`` by
``system:reconciliation``, journaled with the import.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.db.models import Exists, Max, Min, OuterRef, Q, Sum
from django.utils import timezone

from backoffice.money import format_minor
from invoices.models import Payment

from .conf import setting
from .models import (
    AUTO_RESOLVABLE,
    OPEN_STATES,
    Break,
    BreakKind,
    LineKind,
    LineMatch,
    SettlementImport,
    SettlementLine,
)
from .parsing import ParsedLine, fee_percent
from .services import break_auto_resolve, break_open

MATCHABLE_KINDS = (LineKind.CHARGE, LineKind.REFUND, LineKind.DISPUTE, LineKind.DISPUTE_REVERSAL)
DISPUTE_CHARGEBACK_STATES = ("needs_response", "under_review", "won", "lost", "accepted", "expired")


def _model(label: str) -> Any:
    return apps.get_model(*label.split("."))


class Matcher:
    """Matches one import's lines chunk by chunk, then runs the whole-report checks (``finish``)."""

    def __init__(self, job: SettlementImport) -> None:
        self.job = job
        self.psp = job.psp
        self.auto_resolved = 0
        self.first: datetime | None = None
        self.last: datetime | None = None

    @property
    def period(self) -> tuple[datetime | None, datetime | None]:
        return self.first, self.last

    # ------------------------------------------------------------ per chunk

    def add(self, lines: list[ParsedLine]) -> None:
        Refund = _model("refunds.Refund")
        Dispute = _model("disputes.Dispute")
        charge_refs = {ref for line in lines if line.kind in MATCHABLE_KINDS
                       for ref in (line.payment_reference, line.alt_payment_reference) if ref}
        payments = {p.psp_reference: p for p in Payment.objects.filter(psp=self.psp, psp_reference__in=charge_refs)}
        refund_refs = {line.psp_reference for line in lines if line.kind == LineKind.REFUND}
        refunds = {r.psp_refund_id: r for r in Refund.objects.filter(psp_refund_id__in=refund_refs)
                   .select_related("payment")} if refund_refs else {}
        dispute_refs = {line.psp_reference for line in lines
                        if line.kind in (LineKind.DISPUTE, LineKind.DISPUTE_REVERSAL)}
        disputes = {d.psp_dispute_id: d for d in Dispute.objects.filter(psp=self.psp, psp_dispute_id__in=dispute_refs)
                    } if dispute_refs else {}

        rows: list[SettlementLine] = []
        found: list[list[dict[str, Any]]] = []
        for line in lines:
            self.first = min(self.first, line.occurred_at) if self.first else line.occurred_at
            self.last = max(self.last, line.occurred_at) if self.last else line.occurred_at
            row = SettlementLine(
                settlement_import=self.job, row=line.row, psp=self.psp, kind=line.kind,
                psp_reference=line.psp_reference, payment_reference=line.payment_reference,
                merchant_reference=line.merchant_reference, transaction_id=line.transaction_id,
                payout_id=line.payout_id, gross_minor=line.gross_minor, fee_minor=line.fee_minor,
                net_minor=line.net_minor, currency=line.currency, occurred_at=line.occurred_at)
            breaks: list[dict[str, Any]] = []
            if line.kind == LineKind.CHARGE:
                self._charge(line, row, payments, breaks)
            elif line.kind == LineKind.REFUND:
                self._refund(line, row, refunds, payments, breaks)
            elif line.kind in (LineKind.DISPUTE, LineKind.DISPUTE_REVERSAL):
                self._dispute(line, row, disputes, payments, breaks)
            if line.kind in MATCHABLE_KINDS:
                row.match = LineMatch.BREAK if breaks else LineMatch.MATCHED
            rows.append(row)
            found.append(breaks)
        SettlementLine.objects.bulk_create(rows, batch_size=1000)
        for row, breaks in zip(rows, found, strict=True):
            for spec in breaks:
                self._open(line_id=row.pk, **spec)
        self._resolve_found(rows)

    def _charge(self, line: ParsedLine, row: SettlementLine, payments: dict[str, Payment],
                breaks: list[dict[str, Any]]) -> None:
        payment = payments.get(line.payment_reference) or payments.get(line.alt_payment_reference)
        if payment is None:
            payment = self._by_merchant_reference(line)
        if payment is None:
            breaks.append(dict(kind=BreakKind.MISSING_IN_LEDGER, psp_reference=line.payment_reference,
                               amount_minor=line.gross_minor, currency=line.currency, reported_minor=line.gross_minor,
                               detail=f"{self._psp_label} settled {format_minor(line.gross_minor, line.currency)} for "
                                      f"{line.payment_reference}, which is not in our ledger."))
            return
        row.payment = payment
        ref = payment.psp_reference
        if line.currency != payment.currency:
            breaks.append(dict(kind=BreakKind.CURRENCY_MISMATCH, psp_reference=ref, amount_minor=payment.amount_minor,
                               currency=payment.currency, payment_id=payment.pk, expected_minor=payment.amount_minor,
                               reported_minor=line.gross_minor,
                               detail=f"Settled in {line.currency}, captured in {payment.currency}."))
        elif line.gross_minor != payment.amount_minor:
            breaks.append(dict(kind=BreakKind.AMOUNT_MISMATCH, psp_reference=ref,
                               amount_minor=abs(line.gross_minor - payment.amount_minor), currency=payment.currency,
                               payment_id=payment.pk, expected_minor=payment.amount_minor,
                               reported_minor=line.gross_minor,
                               detail=f"Settled {format_minor(line.gross_minor, line.currency)}, captured "
                                      f"{format_minor(payment.amount_minor, payment.currency)}."))
        percent = fee_percent(line)
        low, high = setting("RECONCILIATION_FEE_BAND_PERCENT")
        if percent is not None and line.fee_minor and not Decimal(str(low)) <= percent <= Decimal(str(high)):
            breaks.append(dict(kind=BreakKind.FEE_OUT_OF_BAND, psp_reference=ref, amount_minor=abs(line.fee_minor),
                               currency=line.currency, payment_id=payment.pk, reported_minor=line.fee_minor,
                               detail=f"Fee {format_minor(line.fee_minor, line.currency)} is {percent:.2f} % of "
                                      f"the gross, outside the expected {low}–{high} %."))

    def _by_merchant_reference(self, line: ParsedLine) -> Payment | None:
        if not line.merchant_reference:
            return None
        window = timedelta(days=setting("RECONCILIATION_MATCH_WINDOW_DAYS"))
        candidates = list(Payment.objects.filter(
            psp=self.psp, invoice__number=line.merchant_reference, amount_minor=line.gross_minor,
            currency=line.currency, captured_at__gte=line.occurred_at - window,
            captured_at__lte=line.occurred_at + window)[:2])
        return candidates[0] if len(candidates) == 1 else None

    def _refund(self, line: ParsedLine, row: SettlementLine, refunds: dict[str, Any], payments: dict[str, Payment],
                breaks: list[dict[str, Any]]) -> None:
        refund = refunds.get(line.psp_reference)
        payment = payments.get(line.payment_reference)
        row.payment = payment if refund is None else refund.payment
        amount = abs(line.gross_minor)
        if refund is None or refund.payment.psp != self.psp:
            breaks.append(dict(kind=BreakKind.REFUND_MISMATCH, psp_reference=line.psp_reference, amount_minor=amount,
                               currency=line.currency, payment_id=payment.pk if payment else None,
                               reported_minor=amount,
                               detail=f"{self._psp_label} refunded {format_minor(amount, line.currency)} "
                                      f"({line.psp_reference}); we have no such refund."))
            return
        row.refund = refund
        if refund.state != "succeeded":
            breaks.append(dict(kind=BreakKind.REFUND_MISMATCH, psp_reference=line.psp_reference, amount_minor=amount,
                               currency=line.currency, refund_id=refund.pk, payment_id=refund.payment_id,
                               reported_minor=amount, expected_minor=refund.amount_minor,
                               detail=f"{self._psp_label} refunded {refund.reference}, which is "
                                      f"{refund.get_state_display().lower()} here."))
        elif line.currency != refund.currency or amount != refund.amount_minor:
            breaks.append(dict(kind=BreakKind.AMOUNT_MISMATCH, psp_reference=line.psp_reference,
                               amount_minor=abs(amount - refund.amount_minor) or refund.amount_minor,
                               currency=refund.currency, refund_id=refund.pk, payment_id=refund.payment_id,
                               expected_minor=refund.amount_minor, reported_minor=amount,
                               detail=f"Refund settled as {format_minor(amount, line.currency)}, ours is "
                                      f"{format_minor(refund.amount_minor, refund.currency)}."))

    def _dispute(self, line: ParsedLine, row: SettlementLine, disputes: dict[str, Any], payments: dict[str, Payment],
                 breaks: list[dict[str, Any]]) -> None:
        dispute = disputes.get(line.psp_reference)
        payment = payments.get(line.payment_reference)
        amount = abs(line.gross_minor)
        if dispute is None:
            row.payment = payment
            breaks.append(dict(kind=BreakKind.DISPUTE_MISMATCH, psp_reference=line.psp_reference, amount_minor=amount,
                               currency=line.currency, payment_id=payment.pk if payment else None,
                               reported_minor=amount,
                               detail=f"{self._psp_label} reported a {line.kind.replace('_', ' ')} of "
                                      f"{format_minor(amount, line.currency)} ({line.psp_reference}); we have no "
                                      "such dispute."))
            return
        row.dispute, row.payment_id = dispute, dispute.payment_id
        if line.currency != dispute.currency or amount != dispute.amount_minor:
            breaks.append(dict(kind=BreakKind.AMOUNT_MISMATCH, psp_reference=line.psp_reference,
                               amount_minor=abs(amount - dispute.amount_minor) or dispute.amount_minor,
                               currency=dispute.currency, dispute_id=dispute.pk, payment_id=dispute.payment_id,
                               expected_minor=dispute.amount_minor, reported_minor=amount,
                               detail=f"Dispute settled as {format_minor(amount, line.currency)}, ours is "
                                      f"{format_minor(dispute.amount_minor, dispute.currency)}."))

    @property
    def _psp_label(self) -> str:
        return self.job.get_psp_display()

    def _open(self, **spec: Any) -> None:
        break_open(psp=self.psp, settlement_import_id=self.job.pk, **spec)

    def _resolve_found(self, rows: list[SettlementLine]) -> None:
        """Open breaks about what these lines found (a payment, refund or dispute now settled) are closed."""
        refs: set[str] = set()
        for row in rows:
            if row.payment is not None and row.kind == LineKind.CHARGE:
                refs.add(row.payment.psp_reference)
            if row.refund_id is not None or row.dispute_id is not None:
                refs.add(row.psp_reference)
        if not refs:
            return
        stale = Break.objects.filter(psp=self.psp, state__in=OPEN_STATES, kind__in=AUTO_RESOLVABLE,
                                     psp_reference__in=refs).exclude(settlement_import_id=self.job.pk)
        for brk in stale.order_by("pk"):
            break_auto_resolve(brk=brk, settlement_import_id=self.job.pk,
                               reason=f"Settled in {self._psp_label} report {self.job.file_name} "
                                      f"(import #{self.job.pk}).")
            self.auto_resolved += 1

    # ------------------------------------------------------------ whole report

    def finish(self) -> None:
        self._duplicates()
        self._payouts()
        self._unsettled()

    def _duplicates(self) -> None:
        earlier = SettlementLine.objects.filter(kind=LineKind.CHARGE, payment_id=OuterRef("payment_id")).filter(
            Q(settlement_import_id__lt=self.job.pk) | Q(settlement_import_id=self.job.pk, row__lt=OuterRef("row"))
        ).exclude(Q(transaction_id=OuterRef("transaction_id")) & ~Q(transaction_id=""))
        dups = (SettlementLine.objects.filter(settlement_import=self.job, kind=LineKind.CHARGE, payment__isnull=False)
                .filter(Exists(earlier)).select_related("payment").order_by("row"))
        for line in dups.iterator(chunk_size=500):
            self._open(kind=BreakKind.DUPLICATE, psp_reference=line.payment.psp_reference,
                       amount_minor=line.gross_minor, currency=line.currency, payment_id=line.payment_id,
                       line_id=line.pk, reported_minor=line.gross_minor,
                       detail=f"{line.payment.psp_reference} was settled more than once (row {line.row}).")
            SettlementLine.objects.filter(pk=line.pk).update(match=LineMatch.BREAK)

    def _payouts(self) -> None:
        lines = SettlementLine.objects.filter(settlement_import=self.job).exclude(payout_id="")
        payouts = lines.filter(kind=LineKind.PAYOUT).values_list("payout_id", "currency", "net_minor")
        for payout_id, currency, payout_net in payouts.iterator():
            others = (lines.filter(payout_id=payout_id, currency=currency).exclude(kind=LineKind.PAYOUT)
                      .aggregate(total=Sum("net_minor"))["total"] or 0)
            paid = -payout_net
            if others != paid:
                reference = payout_id if self.psp == "stripe" else f"{payout_id}/{currency}"
                self._open(kind=BreakKind.PAYOUT_MISMATCH, psp_reference=reference, amount_minor=abs(others - paid),
                           currency=currency, expected_minor=others, reported_minor=paid,
                           detail=f"Payout {payout_id} paid {format_minor(paid, currency)}; its lines add up to "
                                  f"{format_minor(others, currency)}.")

    def _unsettled(self) -> None:
        Refund = _model("refunds.Refund")
        Dispute = _model("disputes.Dispute")
        span = (SettlementLine.objects.filter(psp=self.psp, kind=LineKind.CHARGE)
                .aggregate(first=Min("occurred_at"), last=Max("occurred_at")))
        if span["first"] is None:
            return
        cutoff = timezone.now() - timedelta(days=setting("RECONCILIATION_NOT_SETTLED_AFTER_DAYS"))
        start, end = span["first"], min(span["last"], cutoff)
        if start >= end:
            return
        settled = SettlementLine.objects.filter(payment_id=OuterRef("pk"), kind=LineKind.CHARGE)
        known = Break.objects.filter(psp=self.psp, psp_reference=OuterRef("psp_reference"))
        payments = (Payment.objects.filter(psp=self.psp, captured_at__gte=start, captured_at__lt=end)
                    .exclude(Exists(settled)).exclude(Exists(known.filter(kind=BreakKind.NOT_SETTLED))).order_by("pk"))
        for payment in payments.iterator(chunk_size=500):
            self._open(kind=BreakKind.NOT_SETTLED, psp_reference=payment.psp_reference,
                       amount_minor=payment.amount_minor, currency=payment.currency, payment_id=payment.pk,
                       expected_minor=payment.amount_minor,
                       detail=f"Captured {payment.captured_at:%Y-%m-%d}, not settled by {self._psp_label} since.")
        refunds = (Refund.objects.filter(payment__psp=self.psp, state="succeeded", succeeded_at__gte=start,
                                         succeeded_at__lt=end).exclude(psp_refund_id="")
                   .exclude(Exists(SettlementLine.objects.filter(refund_id=OuterRef("pk"))))
                   .exclude(Exists(Break.objects.filter(psp=self.psp, kind=BreakKind.REFUND_MISMATCH,
                                                        psp_reference=OuterRef("psp_refund_id")))).order_by("pk"))
        for refund in refunds.iterator(chunk_size=500):
            self._open(kind=BreakKind.REFUND_MISMATCH, psp_reference=refund.psp_refund_id,
                       amount_minor=refund.amount_minor, currency=refund.currency, refund_id=refund.pk,
                       payment_id=refund.payment_id, expected_minor=refund.amount_minor,
                       detail=f"{refund.reference} succeeded here {refund.succeeded_at:%Y-%m-%d}; "
                              f"{self._psp_label} has not settled it.")
        disputes = (Dispute.objects.filter(psp=self.psp, state__in=DISPUTE_CHARGEBACK_STATES, created_at__gte=start,
                                           created_at__lt=end)
                    .exclude(Exists(SettlementLine.objects.filter(dispute_id=OuterRef("pk"))))
                    .exclude(Exists(Break.objects.filter(psp=self.psp, kind=BreakKind.DISPUTE_MISMATCH,
                                                         psp_reference=OuterRef("psp_dispute_id")))).order_by("pk"))
        for dispute in disputes.iterator(chunk_size=500):
            self._open(kind=BreakKind.DISPUTE_MISMATCH, psp_reference=dispute.psp_dispute_id,
                       amount_minor=dispute.amount_minor, currency=dispute.currency, dispute_id=dispute.pk,
                       payment_id=dispute.payment_id, expected_minor=dispute.amount_minor,
                       detail=f"{dispute.reference} is a chargeback here since {dispute.created_at:%Y-%m-%d}; "
                              f"{self._psp_label} has not debited it.")
