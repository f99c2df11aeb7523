"""Reading settlement reports: Stripe's itemized balance-change report and Adyen's settlement details report.

Files are read as a stream (one row at a time: a million-line file costs constant memory). Each row
becomes a ``ParsedLine`` with amounts in signed minor units, or a ``RowError`` naming the row (row 1
is the header, as a spreadsheet numbers them). Headers match case-insensitively; other columns are
ignored.

* **Stripe** (``balance_change_from_activity.itemized``): ``balance_transaction_id``, ``created_utc``,
  ``currency``, ``gross``, ``fee``, ``net`` (major units, negative for money leaving the balance),
  ``reporting_category`` (``charge``, ``refund``, ``dispute``, ``dispute_reversal``, ``fee``,
  ``payout`` …), ``source_id``; optional ``charge_id``, ``payment_intent_id``, ``refund_id``,
  ``dispute_id``, ``automatic_payout_id``, ``description``, ``payment_metadata[merchant_reference]``.
* **Adyen** (settlement details report): ``Psp Reference``, ``Merchant Reference``, ``Creation Date``,
  ``Type`` (``Settled``, ``Refunded``, ``Chargeback``, ``ChargebackReversed``, ``Fee``,
  ``MerchantPayout`` …), ``Modification Reference``, ``Gross Currency``, ``Gross Debit (GC)``,
  ``Gross Credit (GC)``, ``Net Currency``, ``Net Debit (NC)``, ``Net Credit (NC)``, ``Commission (NC)``,
  ``Markup (NC)``, ``Scheme Fees (NC)``, ``Interchange (NC)``, ``Batch Number``; optional ``TimeZone``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import IO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backoffice.money import MoneyError, is_valid_currency, parse_minor

from .models import LineKind

MAX_REF = 64


@dataclass(frozen=True)
class ParsedLine:
    row: int
    kind: str
    psp_reference: str
    payment_reference: str
    merchant_reference: str
    transaction_id: str
    payout_id: str
    gross_minor: int
    fee_minor: int
    net_minor: int
    currency: str
    occurred_at: datetime
    batch_id: str = ""
    # Other ids of the payment (a Stripe payment intent), tried when the first does not match.
    alt_payment_reference: str = ""


@dataclass(frozen=True)
class RowError:
    row: int
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "message": self.message}


class _Bad(Exception):
    pass


STRIPE_KINDS = {
    "charge": LineKind.CHARGE,
    "refund": LineKind.REFUND,
    "dispute": LineKind.DISPUTE,
    "dispute_reversal": LineKind.DISPUTE_REVERSAL,
    "fee": LineKind.FEE,
    "payout": LineKind.PAYOUT,
}
ADYEN_KINDS = {
    "settled": LineKind.CHARGE,
    "settledbulk": LineKind.CHARGE,
    "refunded": LineKind.REFUND,
    "refundedbulk": LineKind.REFUND,
    "chargeback": LineKind.DISPUTE,
    "secondchargeback": LineKind.DISPUTE,
    "chargebackreversed": LineKind.DISPUTE_REVERSAL,
    "fee": LineKind.FEE,
    "paymentcost": LineKind.FEE,
    "invoicededuction": LineKind.FEE,
    "merchantpayout": LineKind.PAYOUT,
}
REQUIRED = {
    "stripe": ("balance_transaction_id", "created_utc", "currency", "gross", "fee", "net", "reporting_category",
               "source_id"),
    "adyen": ("psp reference", "merchant reference", "creation date", "type", "modification reference",
              "gross currency", "gross debit (gc)", "gross credit (gc)", "net currency", "net debit (nc)",
              "net credit (nc)", "commission (nc)", "batch number"),
}


def _ref(text: str, name: str) -> str:
    text = (text or "").strip()
    if len(text) > MAX_REF:
        raise _Bad(f"{name} is longer than {MAX_REF} characters")
    return text


def _currency(text: str, name: str = "currency") -> str:
    code = (text or "").strip().upper()
    if not is_valid_currency(code):
        raise _Bad(f"{name} {text!r} is not an ISO 4217 currency")
    return code


def _amount(text: str, currency: str, name: str) -> int:
    text = (text or "").strip()
    if not text:
        return 0
    try:
        return parse_minor(text, currency, positive=False)
    except MoneyError as err:
        raise _Bad(f"{name} {text!r}: {err.message}") from err


def _when(text: str, name: str, tz: str = "") -> datetime:
    text = (text or "").strip()
    if not text:
        raise _Bad(f"{name} is missing")
    value = None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            value = datetime.strptime(text.rstrip("Z"), fmt)
            break
        except ValueError:
            continue
    if value is None:
        try:
            value = datetime.fromisoformat(text)
        except ValueError as exc:
            raise _Bad(f"{name} {text!r} is not a date and time") from exc
    if value.tzinfo is None:
        zone = UTC
        if tz:
            try:
                zone = ZoneInfo(tz) if "/" in tz or tz == "UTC" else UTC
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise _Bad(f"TimeZone {tz!r} is unknown") from exc
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _stripe(get, row: int) -> ParsedLine:
    category = get("reporting_category").lower()
    kind = STRIPE_KINDS.get(category, LineKind.OTHER)
    currency = _currency(get("currency"))
    gross = _amount(get("gross"), currency, "gross")
    fee = _amount(get("fee"), currency, "fee")
    net = _amount(get("net"), currency, "net")
    if gross - fee != net:
        raise _Bad(f"gross {get('gross')} minus fee {get('fee')} is not net {get('net')}")
    source = _ref(get("source_id"), "source_id")
    charge = _ref(get("charge_id"), "charge_id")
    intent = _ref(get("payment_intent_id"), "payment_intent_id")
    if kind == LineKind.REFUND:
        reference = _ref(get("refund_id"), "refund_id") or source
    elif kind in (LineKind.DISPUTE, LineKind.DISPUTE_REVERSAL):
        reference = _ref(get("dispute_id"), "dispute_id") or source
    else:
        reference = source
    if kind == LineKind.CHARGE:
        charge = charge or source
    if kind in (LineKind.CHARGE, LineKind.REFUND, LineKind.DISPUTE, LineKind.DISPUTE_REVERSAL) and not reference:
        raise _Bad("source_id is missing")
    if kind == LineKind.CHARGE and gross <= 0:
        raise _Bad("a charge's gross must be positive")
    transaction_id = _ref(get("balance_transaction_id"), "balance_transaction_id")
    if not transaction_id:
        raise _Bad("balance_transaction_id is missing")
    payout = _ref(get("automatic_payout_id"), "automatic_payout_id")
    if kind == LineKind.PAYOUT:
        payout = payout or source
    return ParsedLine(
        row=row, kind=kind, psp_reference=reference, payment_reference=charge, alt_payment_reference=intent,
        merchant_reference=_ref(get("payment_metadata[merchant_reference]") or get("description"),
                                "merchant reference")[:80] if kind == LineKind.CHARGE else "",
        transaction_id=transaction_id, payout_id=payout, gross_minor=gross, fee_minor=fee, net_minor=net,
        currency=currency, occurred_at=_when(get("created_utc"), "created_utc"), batch_id=payout,
    )


def _adyen(get, row: int) -> ParsedLine:
    record_type = get("type").replace(" ", "").lower()
    if not record_type:
        raise _Bad("Type is missing")
    kind = ADYEN_KINDS.get(record_type, LineKind.OTHER)
    net_currency = _currency(get("net currency"), "Net Currency")
    gross_text = get("gross currency")
    gross_currency = _currency(gross_text, "Gross Currency") if gross_text else net_currency
    gross = (_amount(get("gross credit (gc)"), gross_currency, "Gross Credit (GC)")
             - _amount(get("gross debit (gc)"), gross_currency, "Gross Debit (GC)"))
    net = (_amount(get("net credit (nc)"), net_currency, "Net Credit (NC)")
           - _amount(get("net debit (nc)"), net_currency, "Net Debit (NC)"))
    fee = sum(_amount(get(name), net_currency, name.title().replace("(Nc)", "(NC)"))
              for name in ("commission (nc)", "markup (nc)", "scheme fees (nc)", "interchange (nc)"))
    payment = _ref(get("psp reference"), "Psp Reference")
    modification = _ref(get("modification reference"), "Modification Reference")
    if kind in (LineKind.CHARGE, LineKind.REFUND, LineKind.DISPUTE, LineKind.DISPUTE_REVERSAL) and not payment:
        raise _Bad("Psp Reference is missing")
    if kind == LineKind.CHARGE and gross <= 0:
        raise _Bad("a settled payment needs a Gross Credit (GC)")
    if kind == LineKind.CHARGE:
        reference = payment
    elif kind in (LineKind.REFUND, LineKind.DISPUTE, LineKind.DISPUTE_REVERSAL):
        reference = modification or payment
    else:
        reference = modification or payment
    batch = _ref(get("batch number"), "Batch Number")
    # Fees are in the net currency: the band check compares them with the gross only when both agree.
    fee_minor = fee if gross_currency == net_currency else 0
    return ParsedLine(
        row=row, kind=kind, psp_reference=reference, payment_reference=payment,
        merchant_reference=_ref(get("merchant reference"), "Merchant Reference")[:80], transaction_id="",
        payout_id=batch, gross_minor=gross if gross else net, fee_minor=fee_minor, net_minor=net,
        currency=gross_currency if gross else net_currency,
        occurred_at=_when(get("creation date"), "Creation Date", get("timezone")), batch_id=batch,
    )


PARSERS = {"stripe": _stripe, "adyen": _adyen}


def text_stream(binary: IO[bytes]) -> IO[str]:
    """The file as UTF-8 text (a BOM is skipped), read lazily."""
    binary.seek(0)
    return io.TextIOWrapper(_Unclosable(binary), encoding="utf-8-sig", newline="")


class _Unclosable(io.RawIOBase):
    """Lets a TextIOWrapper read a file it must not close (an upload, an open file of the caller)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def iter_rows(*, psp: str, binary: IO[bytes]) -> Iterator[ParsedLine | RowError]:
    """Every data row of the file, parsed, in file order; a header problem is one ``RowError`` for row 1."""
    parse = PARSERS[psp]
    text = text_stream(binary)
    try:
        first = text.readline()
    except UnicodeDecodeError:
        yield RowError(0, "The file is not UTF-8 text (export it as CSV).")
        return
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    header = next(csv.reader([first], delimiter=delimiter), [])
    names = [(h or "").strip().lower() for h in header]
    missing = [name for name in REQUIRED[psp] if name not in names]
    if missing:
        yield RowError(1, f"Missing column(s): {', '.join(missing)}. Is this a {psp} report?")
        return
    index = {name: i for i, name in reversed(list(enumerate(names)))}
    reader = csv.reader(text, delimiter=delimiter)
    row = 1
    try:
        for values in reader:
            row += 1
            if not values or not any(v.strip() for v in values):
                continue
            if len(values) > len(names):
                yield RowError(row, "more values than columns")
                continue

            def get(name: str, _values=values) -> str:
                i = index.get(name)
                return _values[i].strip() if i is not None and i < len(_values) else ""

            try:
                yield parse(get, row)
            except _Bad as err:
                yield RowError(row, str(err))
    except UnicodeDecodeError:
        yield RowError(row + 1, "not UTF-8 text")
    except csv.Error as err:
        yield RowError(row + 1, f"not valid CSV: {err}")


def sha256_of(binary: IO[bytes]) -> tuple[str, int]:
    """The file's SHA-256 and size, read in chunks."""
    import hashlib

    digest = hashlib.sha256()
    size = 0
    binary.seek(0)
    for chunk in iter(lambda: binary.read(1 << 20), b""):
        digest.update(chunk)
        size += len(chunk)
    binary.seek(0)
    return digest.hexdigest(), size


def fee_percent(line: ParsedLine) -> Decimal | None:
    if line.gross_minor <= 0:
        return None
    return Decimal(line.fee_minor) * 100 / Decimal(line.gross_minor)
