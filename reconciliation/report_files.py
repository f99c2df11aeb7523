"""Writing settlement reports in the PSPs' documented column layouts (for the demo and the tests).

``stripe_report`` writes Stripe's "Balance change from activity — itemized" report
(``balance_change_from_activity.itemized.3`` columns); ``adyen_report`` writes Adyen's settlement
details report. Each ends with the payout (Stripe ``payout``, Adyen ``MerchantPayout``) of the lines'
net total per currency (the first item's currency moved by ``payout_delta_minor`` to plant a payout
that does not add up).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from backoffice.money import minor_to_decimal

STRIPE_COLUMNS = [
    "balance_transaction_id", "created_utc", "created", "available_on_utc", "available_on", "currency", "gross",
    "fee", "net", "reporting_category", "source_id", "description", "customer_facing_amount",
    "customer_facing_currency", "regulatory_tag", "automatic_payout_id", "automatic_payout_effective_at_utc",
    "customer_id", "customer_email", "customer_name", "customer_description", "charge_id", "payment_intent_id",
    "charge_created_utc", "invoice_id", "order_id", "payment_method_type", "card_brand", "card_funding",
    "card_country", "statement_descriptor", "dispute_reason", "connected_account_id",
    "payment_metadata[merchant_reference]",
]
ADYEN_COLUMNS = [
    "Company Account", "Merchant Account", "Psp Reference", "Merchant Reference", "Payment Method", "Creation Date",
    "TimeZone", "Type", "Modification Reference", "Gross Currency", "Gross Debit (GC)", "Gross Credit (GC)",
    "Exchange Rate", "Net Currency", "Net Debit (NC)", "Net Credit (NC)", "Commission (NC)", "Markup (NC)",
    "Scheme Fees (NC)", "Interchange (NC)", "Payment Method Variant", "Modification Merchant Reference",
    "Batch Number", "Reserved4", "Reserved5", "Reserved6", "Reserved7", "Reserved8", "Reserved9", "Reserved10",
]
ADYEN_TYPES = {"charge": "Settled", "refund": "Refunded", "dispute": "Chargeback",
               "dispute_reversal": "ChargebackReversed", "fee": "Fee"}


@dataclass(frozen=True)
class Item:
    """One movement: ``amount_minor`` is its size (positive); refunds, disputes and fees leave the balance."""

    kind: str
    reference: str  # the PSP's id of what moved (charge, refund, dispute); blank for fees
    amount_minor: int
    currency: str
    at: datetime
    payment_reference: str = ""
    fee_minor: int = 0
    merchant_reference: str = ""


def _major(amount_minor: int, currency: str) -> str:
    return str(minor_to_decimal(amount_minor, currency)) if amount_minor else "0"


def _signed(item: Item) -> int:
    return item.amount_minor if item.kind in ("charge", "dispute_reversal") else -item.amount_minor


def stripe_report(items: Iterable[Item], *, payout_id: str, payout_at: datetime, payout_delta_minor: int = 0,
                  txn_prefix: str = "txn_") -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=STRIPE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    nets: dict[str, int] = {}
    items = list(items)
    main = items[0].currency if items else ""

    def payout_of(currency: str) -> str:  # a Stripe payout is in one currency
        return payout_id if currency == main else f"{payout_id}_{currency.lower()}"

    for n, item in enumerate(items, start=1):
        gross = _signed(item) if item.kind != "fee" else 0
        fee = item.fee_minor if item.kind != "fee" else item.amount_minor
        net = gross - fee
        nets[item.currency] = nets.get(item.currency, 0) + net
        payment = item.payment_reference or (item.reference if item.kind == "charge" else "")
        writer.writerow({
            "balance_transaction_id": f"{txn_prefix}{n:08d}", "created_utc": f"{item.at:%Y-%m-%d %H:%M:%S}",
            "created": f"{item.at:%Y-%m-%d %H:%M:%S}", "available_on_utc": f"{payout_at:%Y-%m-%d %H:%M:%S}",
            "available_on": f"{payout_at:%Y-%m-%d %H:%M:%S}", "currency": item.currency.lower(),
            "gross": _major(gross, item.currency), "fee": _major(fee, item.currency), "net": _major(net, item.currency),
            "reporting_category": item.kind, "source_id": item.reference or f"fee_{n:08d}",
            "description": "" if item.kind != "fee" else "Billing fee",
            "automatic_payout_id": payout_of(item.currency),
            "automatic_payout_effective_at_utc": f"{payout_at:%Y-%m-%d %H:%M:%S}",
            "charge_id": payment, "payment_method_type": "card" if payment else "",
            "payment_metadata[merchant_reference]": item.merchant_reference,
        })
    for currency, total in sorted(nets.items()):
        paid = total + (payout_delta_minor if currency == main else 0)
        writer.writerow({
            "balance_transaction_id": f"{txn_prefix}po_{currency.lower()}",
            "created_utc": f"{payout_at:%Y-%m-%d %H:%M:%S}", "created": f"{payout_at:%Y-%m-%d %H:%M:%S}",
            "currency": currency.lower(), "gross": _major(-paid, currency), "fee": "0", "net": _major(-paid, currency),
            "reporting_category": "payout", "source_id": payout_of(currency),
            "automatic_payout_id": payout_of(currency),
            "description": "STRIPE PAYOUT",
        })
    return out.getvalue()


def adyen_report(items: Iterable[Item], *, batch: str, payout_at: datetime, payout_delta_minor: int = 0,
                 merchant_account: str = "BackofficeECOM") -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ADYEN_COLUMNS, lineterminator="\n")
    writer.writeheader()
    nets: dict[str, int] = {}
    items = list(items)
    main = items[0].currency if items else ""
    for n, item in enumerate(items, start=1):
        row = {"Company Account": "BackofficeCompany", "Merchant Account": merchant_account,
               "Creation Date": f"{item.at:%Y-%m-%d %H:%M:%S}", "TimeZone": "UTC", "Type": ADYEN_TYPES[item.kind],
               "Gross Currency": item.currency, "Net Currency": item.currency, "Exchange Rate": "1",
               "Batch Number": batch, "Commission (NC)": "", "Markup (NC)": "", "Scheme Fees (NC)": "",
               "Interchange (NC)": "", "Payment Method": "visa" if item.kind != "fee" else "",
               "Merchant Reference": item.merchant_reference}
        if item.kind == "fee":
            net = -item.amount_minor
            row.update({"Psp Reference": "", "Modification Reference": f"FEE-{batch}-{n:06d}",
                        "Net Debit (NC)": _major(item.amount_minor, item.currency)})
        elif item.kind == "charge":
            net = item.amount_minor - item.fee_minor
            row.update({"Psp Reference": item.reference, "Modification Reference": item.reference,
                        "Gross Credit (GC)": _major(item.amount_minor, item.currency),
                        "Net Credit (NC)": _major(net, item.currency),
                        "Commission (NC)": _major(item.fee_minor, item.currency) if item.fee_minor else ""})
        else:
            signed = _signed(item)
            net = signed - item.fee_minor
            side = "Credit" if signed > 0 else "Debit"
            row.update({"Psp Reference": item.payment_reference, "Modification Reference": item.reference,
                        f"Gross {side} (GC)": _major(abs(signed), item.currency),
                        f"Net {'Credit' if net > 0 else 'Debit'} (NC)": _major(abs(net), item.currency),
                        "Commission (NC)": _major(item.fee_minor, item.currency) if item.fee_minor else ""})
        nets[item.currency] = nets.get(item.currency, 0) + net
        writer.writerow(row)
    for currency, total in sorted(nets.items()):
        paid = total + (payout_delta_minor if currency == main else 0)
        writer.writerow({"Company Account": "BackofficeCompany", "Merchant Account": merchant_account,
                         "Creation Date": f"{payout_at:%Y-%m-%d %H:%M:%S}", "TimeZone": "UTC",
                         "Type": "MerchantPayout", "Modification Reference": f"PAYOUT-{batch}-{currency}",
                         "Net Currency": currency, "Net Debit (NC)": _major(paid, currency), "Batch Number": batch})
    return out.getvalue()
