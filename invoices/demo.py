"""Demo ledger of a cloud / GPU marketplace: ~300 business customers billed monthly, ~2,500
self-serve customers who buy prepaid GPU credit by card, ~40,000 invoices and payments in all.

``seed_ledger(rng=random.Random(seed))`` is deterministic for a given day (every choice comes
from ``rng`` and from ``AS_OF``, today at 00:00 UTC) and idempotent (it does nothing once the
demo customers exist; it writes everything in one transaction, so a failed run leaves nothing).
The ledger is imported data, not cases: it is written in bulk (``bulk_create``), in one style.

Dates: business invoices are issued monthly in the six months before ``ANCHOR`` (three weeks
before ``AS_OF``); ``LONG_HISTORY`` of the oldest customers were billed every month since they
signed up, up to three years back. Payments are captured up to ``AS_OF``: unpaid invoices due
before it are ``overdue``, the others ``open``, so whenever the demo is seeded it shows open and
overdue invoices and card payments recent enough to be disputed. The self-serve top-ups (paid by
card at once) in the last ``CARD_VOLUME_MONTHS`` months give the card networks the volume a
payments business has, so the demo's dispute ratios per network look like real ones (well under 1 %).
"""

from __future__ import annotations

import logging
import random
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction

from backoffice.money import parse_minor

from .models import Customer, Invoice, InvoiceLine, Payment
from .services import INVOICE_NUMBER_FORMAT, invoice_next_number, line_amount_minor

logger = logging.getLogger(__name__)

AS_OF = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
ANCHOR = AS_OF - timedelta(days=21)
HISTORY_MONTHS = 6
CUSTOMER_COUNT = 300
EXTERNAL_ID_PREFIX = "demo-cus-"
LONG_HISTORY = 12  # business customers billed every month since they signed up (up to LONG_HISTORY_MONTHS)
LONG_HISTORY_MONTHS = 36
SELF_SERVE_COUNT = 2500
SELF_SERVE_PREFIX = "demo-ssc-"
CARD_VOLUME_MONTHS = 5  # self-serve top-ups in this month and the four before it
TOP_UPS_PER_MONTH = 3.5  # on average, per self-serve customer

CURRENCIES = ("USD", "EUR", "GBP", "KZT", "AZN", "UZS")

# Price book in major units, per currency in the order of CURRENCIES (converted with parse_minor).
# (key, description, kind, unit, prices)
_PRICE_BOOK = [
    ("starter", "Platform subscription: Starter", "subscription", "month",
     ("49", "45", "39", "24000", "83", "620000")),
    ("team", "Platform subscription: Team", "subscription", "month",
     ("299", "279", "239", "145000", "509", "3790000")),
    ("business", "Platform subscription: Business", "subscription", "month",
     ("1499", "1390", "1190", "725000", "2549", "18990000")),
    ("enterprise", "Platform subscription: Enterprise", "subscription", "month",
     ("4999", "4590", "3950", "2420000", "8499", "63300000")),
    ("a100", "GPU hours (A100)", "usage", "GPU-hour",
     ("1.89", "1.75", "1.49", "910", "3.21", "24000")),
    ("h100", "GPU hours (H100)", "usage", "GPU-hour",
     ("3.49", "3.25", "2.79", "1690", "5.93", "44300")),
    ("rtx4090", "Marketplace GPU hours (RTX 4090)", "usage", "GPU-hour",
     ("0.44", "0.41", "0.35", "215", "0.75", "5600")),
    ("api", "API calls", "usage", "1k API calls",
     ("0.40", "0.37", "0.32", "195", "0.68", "5100")),
    ("storage", "Object storage GB-month", "usage", "GB-month",
     ("0.02", "0.02", "0.02", "10", "0.04", "250")),
    ("egress", "Network egress", "usage", "GB",
     ("0.05", "0.05", "0.04", "24", "0.09", "640")),
    ("reserved", "Reserved GPU cluster (8x H100, 1 week)", "one_off", "week",
     ("3990", "3690", "3150", "1930000", "6780", "50600000")),
    ("services", "Onboarding and migration services", "one_off", "hour",
     ("180", "165", "140", "86000", "305", "2280000")),
]  # fmt: skip

# Monthly usage at size 1, and how spread it is from month to month (lognormal sigma).
_USAGE_BASE = {
    "a100": (Decimal(400), 0.5),
    "h100": (Decimal(150), 0.6),
    "rtx4090": (Decimal(600), 0.6),
    "api": (Decimal(2500), 0.4),
    "storage": (Decimal(3000), 0.2),
    "egress": (Decimal(800), 0.5),
}
_SIZES = ((Decimal("0.2"), 45), (Decimal(1), 35), (Decimal(4), 15), (Decimal(15), 5))
_PLANS_BY_SIZE = {
    Decimal("0.2"): ("starter", "team"),
    Decimal(1): ("team", "business"),
    Decimal(4): ("business", "enterprise"),
    Decimal(15): ("enterprise",),
}
_TERMS_DAYS = ((14, 15), (30, 55), (45, 20), (60, 10))

# Country → (weight, [(currency, weight)], legal forms, name prefixes, e-mail TLD)
_COUNTRIES = {
    "US": (33, [("USD", 1)], ["Inc.", "LLC", "Corp."],
           ["Redwood", "Summit", "Cascade", "Lattice", "Tensor", "Vector", "Quantum", "Ironclad",
            "Bluefin", "Granite", "Helios", "Orbit", "Polaris", "Sierra", "Crescent", "Pioneer",
            "Harbor", "Northwind", "Keystone", "Evergreen", "Silverline", "Brightpath", "Canyon", "Beacon"],
           "com"),
    "DE": (7, [("EUR", 9), ("USD", 1)], ["GmbH", "AG"],
           ["Nordlicht", "Rhein", "Alpen", "Isar", "Elbe", "Schwarzwald", "Bodensee"], "de"),
    "FR": (5, [("EUR", 9), ("USD", 1)], ["SAS", "SA"],
           ["Lumière", "Seine", "Mistral", "Provence", "Loire"], "fr"),
    "NL": (5, [("EUR", 9), ("USD", 1)], ["B.V."], ["Amstel", "Delta", "Zuiderzee", "Oranje", "Polder"], "nl"),
    "ES": (3, [("EUR", 1)], ["S.L.", "S.A."], ["Iberia", "Tejo", "Sierra Nevada", "Mediterránea"], "es"),
    "FI": (2, [("EUR", 1)], ["Oy"], ["Aurora", "Boreal", "Saimaa", "Lappi"], "fi"),
    "SE": (3, [("EUR", 3), ("USD", 1)], ["AB"], ["Fjord", "Kestrel", "Norrsken", "Vättern"], "se"),
    "IE": (2, [("EUR", 1)], ["Ltd"], ["Liffey", "Shannon", "Emerald"], "ie"),
    "PL": (2, [("EUR", 3), ("USD", 1)], ["sp. z o.o."], ["Vistula", "Baltic", "Tatra", "Mazury"], "pl"),
    "GB": (13, [("GBP", 9), ("USD", 1)], ["Ltd", "plc"],
           ["Thames", "Albion", "Pennine", "Brunel", "Mercia", "Highland", "Wessex", "Clyde", "Cotswold"],
           "co.uk"),
    "KZ": (12, [("KZT", 4), ("USD", 1)], ["TOO", "JSC"],
           ["Altyn", "Steppe", "Almaty", "Astana", "Tengri", "Saryarka", "Baiterek", "Zhetysu", "Kaspi Bay"],
           "kz"),
    "AZ": (6, [("AZN", 4), ("USD", 1)], ["MMC", "LLC"],
           ["Caspian", "Absheron", "Khazar", "Shirvan", "Ganja", "Gobustan"], "az"),
    "UZ": (7, [("UZS", 6), ("USD", 1)], ["MChJ", "LLC"],
           ["Samarkand", "Tashkent", "Bukhara", "Registan", "Fergana", "Khiva", "Zarafshan"], "uz"),
}  # fmt: skip
_NAME_CORES = [
    "Compute", "GPU Cloud", "AI Labs", "Data Systems", "Cloud", "Analytics", "Robotics", "Render Farm",
    "ML Platform", "Vision AI", "Genomics", "Fintech", "Games", "Speech AI", "Bioinformatics",
    "Edge Networks", "Inference", "DataWorks", "Digital", "Simulations",
]  # fmt: skip
_USAGE_MIXES = (
    (("a100", "storage", "egress"), 25),
    (("a100", "h100", "storage"), 15),
    (("rtx4090", "storage"), 15),
    (("api", "storage", "egress"), 20),
    (("api", "a100"), 15),
    (("h100", "api", "storage", "egress"), 10),
)

# Payment instruments by currency: (method, method_detail, weight).
_METHODS = {
    "USD": [("card", "", 78), ("bank_transfer", "ach_debit", 8), ("bank_transfer", "wire", 6),
            ("wallet", "apple_pay", 5), ("wallet", "google_pay", 3)],
    "EUR": [("card", "", 60), ("bank_transfer", "sepa_debit", 14),
            ("bank_transfer", "sepa_credit_transfer", 14),
            ("wallet", "apple_pay", 4), ("wallet", "paypal", 3), ("local", "ideal", 5)],
    "GBP": [("card", "", 72), ("bank_transfer", "bacs_debit", 12), ("bank_transfer", "faster_payments", 8),
            ("wallet", "apple_pay", 8)],
    "KZT": [("card", "", 45), ("local", "kaspi", 40), ("bank_transfer", "kz_bank_transfer", 15)],
    "AZN": [("card", "", 70), ("bank_transfer", "az_bank_transfer", 20), ("wallet", "m10", 10)],
    "UZS": [("card", "", 35), ("local", "payme", 30), ("local", "click", 25),
            ("bank_transfer", "uz_bank_transfer", 10)],
}  # fmt: skip
_NETWORKS = {
    "USD": [("visa", 50), ("mastercard", 30), ("amex", 12), ("discover", 5), ("jcb", 2), ("unionpay", 1)],
    "EUR": [("visa", 55), ("mastercard", 38), ("amex", 5), ("jcb", 1), ("unionpay", 1)],
    "GBP": [("visa", 60), ("mastercard", 33), ("amex", 7)],
    "KZT": [("visa", 55), ("mastercard", 40), ("unionpay", 5)],
    "AZN": [("visa", 55), ("mastercard", 40), ("unionpay", 5)],
    "UZS": [("other", 45), ("visa", 30), ("mastercard", 20), ("unionpay", 5)],
}
# The first card customers get these networks, so every network appears whatever the rng seed.
_NETWORK_SHOWCASE = ["visa", "mastercard", "amex", "discover", "jcb", "unionpay"]
_LOCAL_PSP = {
    "kaspi",
    "payme",
    "click",
    "m10",
    "kz_bank_transfer",
    "az_bank_transfer",
    "uz_bank_transfer",
    "wire",
}


@dataclass
class _Instrument:
    psp: str
    method: str
    method_detail: str
    network: str
    card_last4: str


@dataclass
class _Profile:
    size: Decimal
    plan: str
    usage: tuple[str, ...]
    terms_days: int
    billing_day: int
    pay_reliability: float
    instrument: _Instrument
    prepaid: bool = False  # a self-serve customer: buys credit by card, paid at once



def _weighted(rng: random.Random, pairs: Iterable[tuple]) -> Any:
    """Pick the first element of one of ``pairs``, weighted by each tuple's last element."""
    items = list(pairs)
    return rng.choices([p[0] for p in items], weights=[p[-1] for p in items], k=1)[0]


def _prices() -> dict[str, dict[str, tuple[str, str, str, int]]]:
    book: dict[str, dict[str, tuple[str, str, str, int]]] = {}
    for key, description, kind, unit, prices in _PRICE_BOOK:
        book[key] = {
            currency: (description, kind, unit, parse_minor(price, currency))
            for currency, price in zip(CURRENCIES, prices, strict=True)
        }
    return book


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower().replace("ä", "a").replace("è", "e").replace("á", "a"))


def _instrument(rng: random.Random, currency: str, network: str | None = None) -> _Instrument:
    method, detail, _ = rng.choices(_METHODS[currency], weights=[w for _, _, w in _METHODS[currency]], k=1)[0]
    if network:
        method, detail = "card", ""
    card_network = last4 = ""
    if method == "card":
        card_network = network or _weighted(rng, _NETWORKS[currency])
        last4 = f"{rng.randrange(10_000):04d}"
        if card_network == "other":
            detail = rng.choice(("humo", "uzcard"))
    if detail in _LOCAL_PSP:
        psp = "sandbox"
    elif currency in ("KZT", "AZN", "UZS"):
        psp = "adyen"
    elif currency == "USD":
        psp = "stripe" if rng.random() < 0.8 else "adyen"
    else:
        psp = "stripe" if rng.random() < 0.55 else "adyen"
    if detail == "ideal":
        psp = "adyen"
    return _Instrument(psp, method, detail, card_network, last4)


class _References:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.seen: set[tuple[str, str]] = set()

    def new(self, psp: str, method: str) -> str:
        while True:
            if psp == "stripe":
                alphabet = string.ascii_letters + string.digits
                prefix = "ch_3" if method == "card" else "py_3"
                ref = prefix + "".join(self.rng.choices(alphabet, k=23))
            elif psp == "adyen":
                ref = "".join(self.rng.choices(string.ascii_uppercase + string.digits, k=16))
            else:
                ref = "sbx_" + "".join(self.rng.choices("0123456789abcdef", k=20))
            if (psp, ref) not in self.seen:
                self.seen.add((psp, ref))
                return ref


def _customers(rng: random.Random) -> tuple[list[Customer], list[_Profile]]:
    codes = list(_COUNTRIES)
    weights = [_COUNTRIES[c][0] for c in codes]
    names: set[str] = set()
    customers: list[Customer] = []
    profiles: list[_Profile] = []
    showcase = list(_NETWORK_SHOWCASE)
    for index in range(1, CUSTOMER_COUNT + 1):
        country = rng.choices(codes, weights=weights, k=1)[0]
        _, currencies, legal_forms, prefixes, tld = _COUNTRIES[country]
        currency = _weighted(rng, currencies)
        for _attempt in range(50):
            prefix, core = rng.choice(prefixes), rng.choice(_NAME_CORES)
            name = f"{prefix} {core} {rng.choice(legal_forms)}"
            if name not in names:
                break
        else:
            name = f"{prefix} {core} {index} {rng.choice(legal_forms)}"
        names.add(name)
        mailbox = rng.choice(("billing", "ap", "finance", "accounts"))
        customers.append(
            Customer(
                name=name,
                email=f"{mailbox}@{_slug(prefix + core)}.{tld}.example",
                country=country,
                default_currency=currency,
                external_id=f"{EXTERNAL_ID_PREFIX}{index:04d}",
                created_at=ANCHOR - timedelta(days=rng.randint(200, 1100), minutes=rng.randint(0, 1439)),
            )
        )
        size = _weighted(rng, _SIZES)
        network = showcase.pop(0) if currency == "USD" and showcase else None
        profiles.append(
            _Profile(
                size=size,
                plan=rng.choice(_PLANS_BY_SIZE[size]),
                usage=_weighted(rng, _USAGE_MIXES),
                terms_days=_weighted(rng, _TERMS_DAYS),
                billing_day=rng.randint(1, 28),
                pay_reliability=rng.choice((0.99, 0.97, 0.95, 0.9, 0.75)),
                instrument=_instrument(rng, currency, network),
            )
        )
    return customers, profiles


def _quantity(rng: random.Random, key: str, size: Decimal) -> Decimal:
    base, sigma = _USAGE_BASE[key]
    value = base * size * Decimal(str(round(rng.lognormvariate(0, sigma), 6)))
    if key in ("a100", "h100", "rtx4090"):
        # Metered by the second: hours with six decimals.
        seconds = max(60, int(value * 3600))
        return (Decimal(seconds) / 3600).quantize(Decimal("0.000001"))
    if key == "api":
        return max(value, Decimal("0.001")).quantize(Decimal("0.001"))
    return max(value, Decimal("0.01")).quantize(Decimal("0.01"))


def _line(
    book: dict[str, dict[str, tuple[str, str, str, int]]], key: str, currency: str, quantity: Decimal
) -> InvoiceLine:
    description, kind, unit, price = book[key][currency]
    return InvoiceLine(
        description=description,
        kind=kind,
        quantity=quantity,
        unit=unit,
        unit_price_minor=price,
        amount_minor=line_amount_minor(quantity=quantity, unit_price_minor=price),
    )


def _month_starts(until: datetime = ANCHOR, months: int = HISTORY_MONTHS, *, include_current: bool = False) -> list[
        datetime]:
    """The first days of the ``months`` calendar months before ``until``'s (or up to it, ``include_current``)."""
    starts = []
    year, month = until.year, until.month
    if include_current:
        month += 1
    for _ in range(months):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        starts.append(datetime(year, month, 1, tzinfo=UTC))
    return sorted(starts)


def _invoice_drafts(rng: random.Random, customers, profiles, book):
    """Every invoice as (customer index, issued_at, due_at, lines), in issue order."""
    drafts = []
    window = _month_starts()
    oldest = sorted(range(len(customers)), key=lambda i: customers[i].created_at)[:LONG_HISTORY]
    earlier = _month_starts(window[0], LONG_HISTORY_MONTHS - HISTORY_MONTHS)
    months = [(m, [i for i in oldest if customers[i].created_at < m]) for m in earlier]
    months += [(m, range(len(customers))) for m in window]
    for month_start, indexes in months:
        for index in indexes:
            customer, profile = customers[index], profiles[index]
            currency = customer.default_currency
            issued_at = month_start + timedelta(
                days=profile.billing_day - 1, hours=rng.randint(5, 9), minutes=rng.randint(0, 59)
            )
            lines = [_line(book, profile.plan, currency, Decimal(1))]
            lines += [_line(book, key, currency, _quantity(rng, key, profile.size)) for key in profile.usage]
            if rng.random() < 0.04:
                charges = sum(line.amount_minor for line in lines)
                credit = max(1, round(charges * rng.uniform(0.05, 0.2)))
                lines.append(
                    InvoiceLine(
                        description="SLA credit: GPU cluster incident",
                        kind="credit",
                        quantity=Decimal(1),
                        unit="",
                        unit_price_minor=-credit,
                        amount_minor=-credit,
                    )
                )
            drafts.append((index, issued_at, issued_at + timedelta(days=profile.terms_days), lines))

            if rng.random() < 0.67:
                extra_at = issued_at + timedelta(days=rng.randint(3, 25), hours=rng.randint(0, 8))
                if extra_at >= ANCHOR:
                    extra_at = issued_at + timedelta(hours=rng.randint(1, 12))
                roll = rng.random()
                if roll < 0.15:
                    extra = [_line(book, "reserved", currency, Decimal(rng.randint(1, 4)))]
                elif roll < 0.25:
                    extra = [_line(book, "services", currency, Decimal(rng.randint(4, 40)))]
                else:
                    key = rng.choice(("a100", "h100", "rtx4090"))
                    extra = [_line(book, key, currency, _quantity(rng, key, profile.size / 2))]
                drafts.append((index, extra_at, extra_at + timedelta(days=profile.terms_days), extra))
    drafts.sort(key=lambda d: (d[1], d[0]))
    return drafts


def _split(rng: random.Random, total: int) -> list[int]:
    first = max(1, min(total - 1, round(total * rng.uniform(0.3, 0.7))))
    return [first, total - first]


def _at_fraction(start: datetime, end: datetime, fraction: float) -> datetime:
    return start + timedelta(seconds=int((end - start).total_seconds() * fraction))


def _settle(rng: random.Random, invoice: Invoice, profile: _Profile, refs: _References) -> list[Payment]:
    """Decide the invoice's status and paid_at, and return its payments."""
    if profile.prepaid:  # credit bought by card: captured within a minute of the order
        paid_at = invoice.issued_at + timedelta(seconds=rng.randint(2, 60))
        invoice.status, invoice.paid_at = Invoice.Status.PAID, paid_at
        return [_payment(rng, invoice, profile.instrument, refs, invoice.amount_minor, paid_at)]
    if rng.random() < 0.015:
        invoice.status = Invoice.Status.VOID
        return []
    terms = (invoice.due_at - invoice.issued_at).total_seconds()
    # Long-history customers settled everything older than the recent months.
    pays = rng.random() < profile.pay_reliability or invoice.due_at < ANCHOR - timedelta(days=200)
    paid_at = invoice.issued_at + timedelta(seconds=int(rng.uniform(0.05, 1.3) * terms))
    if pays and paid_at < AS_OF:
        parts = _split(rng, invoice.amount_minor) if rng.random() < 0.05 and invoice.amount_minor > 1 else None
        if parts is None:
            captures = [(invoice.amount_minor, paid_at)]
        else:
            first_at = _at_fraction(invoice.issued_at, paid_at, rng.uniform(0.2, 0.8))
            captures = [(parts[0], first_at), (parts[1], paid_at)]
        invoice.status = Invoice.Status.PAID
        invoice.paid_at = paid_at
    else:
        invoice.status = Invoice.Status.OVERDUE if invoice.due_at < AS_OF else Invoice.Status.OPEN
        captures = []
        if rng.random() < 0.15 and invoice.amount_minor > 1:
            partial_at = _at_fraction(invoice.issued_at, min(AS_OF, invoice.due_at), rng.uniform(0.3, 0.9))
            captures = [(_split(rng, invoice.amount_minor)[0], partial_at)]

    payments = []
    for amount, captured_at in captures:
        instrument = profile.instrument if rng.random() < 0.85 else _instrument(rng, invoice.currency)
        payments.append(_payment(rng, invoice, instrument, refs, amount, captured_at))
    return payments


def _payment(rng: random.Random, invoice: Invoice, instrument: _Instrument, refs: _References, amount: int,
             captured_at: datetime) -> Payment:
    return Payment(
        invoice=invoice,
        customer_id=invoice.customer_id,
        psp=instrument.psp,
        psp_reference=refs.new(instrument.psp, instrument.method),
        method=instrument.method,
        method_detail=instrument.method_detail,
        network=instrument.network,
        card_last4=instrument.card_last4,
        amount_minor=amount,
        currency=invoice.currency,
        captured_at=captured_at,
        created_at=captured_at + timedelta(seconds=rng.randint(1, 90)),
    )


# Self-serve customers: people and small teams who buy GPU credit by card.
_FIRST_NAMES = ["Alex", "Maria", "Wei", "Aigerim", "Jonas", "Priya", "Lucas", "Sofia", "Timur", "Emma", "Kenji",
                "Nodira", "Oliver", "Leyla", "Mateo", "Hana", "Daniel", "Elif", "Noah", "Dilnoza", "Ethan",
                "Amara", "Ruslan", "Chloe", "Arjun", "Zara", "Felix", "Madina", "Samuel", "Ines"]
_LAST_NAMES = ["Smith", "Garcia", "Chen", "Nurlanova", "Müller", "Patel", "Martin", "Rossi", "Akhmetov", "Brown",
               "Tanaka", "Karimova", "Johnson", "Aliyeva", "Lopez", "Kim", "Weber", "Yilmaz", "Davis", "Tashkentova",
               "Wilson", "Okafor", "Ibragimov", "Dubois", "Sharma", "Khan", "Schmidt", "Sultanova", "Taylor", "Silva"]
_MAIL_PROVIDERS = ["gmail.example", "outlook.example", "proton.example", "fastmail.example", "icloud.example"]
# (country, currency, weight)
_SELF_SERVE_MARKETS = [("US", "USD", 42), ("GB", "GBP", 10), ("DE", "EUR", 9), ("FR", "EUR", 5), ("NL", "EUR", 4),
                       ("ES", "EUR", 3), ("KZ", "KZT", 12), ("AZ", "AZN", 6), ("UZ", "UZS", 9)]
# Self-serve cards: more of the smaller networks than the business customers' corporate cards.
_SELF_SERVE_NETWORKS = {
    **_NETWORKS,
    "USD": [("visa", 46), ("mastercard", 28), ("amex", 12), ("discover", 7), ("jcb", 4), ("unionpay", 3)],
    "EUR": [("visa", 50), ("mastercard", 36), ("amex", 6), ("jcb", 4), ("unionpay", 4)],
}
_TOP_UPS_USD = ((10, 20), (25, 30), (50, 25), (100, 15), (250, 7), (500, 3))


def _self_serve(rng: random.Random) -> tuple[list[Customer], list[_Profile]]:
    customers, profiles = [], []
    for number in range(1, SELF_SERVE_COUNT + 1):
        country, currency = _weighted(rng, [(m[:2], m[2]) for m in _SELF_SERVE_MARKETS])
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        mailbox = _slug(f"{first}.{last}") + str(rng.randint(1, 99))
        customers.append(Customer(
            name=f"{first} {last}", email=f"{mailbox}@{rng.choice(_MAIL_PROVIDERS)}", country=country,
            default_currency=currency, external_id=f"{SELF_SERVE_PREFIX}{number:05d}",
            created_at=AS_OF - timedelta(days=rng.randint(20, 900), minutes=rng.randint(0, 1439)),
        ))
        profiles.append(_Profile(
            size=Decimal(str(round(rng.lognormvariate(-0.18, 0.6), 3))), plan="", usage=(), terms_days=0,
            billing_day=1, pay_reliability=1.0, prepaid=True,
            instrument=_instrument(rng, currency, _weighted(rng, _SELF_SERVE_NETWORKS[currency])),
        ))
    return customers, profiles


def _top_up_drafts(rng: random.Random, customers: list[Customer], profiles: list[_Profile], first_index: int,
                   book) -> list:
    """Credit bought by the self-serve customers in the last ``CARD_VOLUME_MONTHS`` months, up to ``AS_OF``."""
    drafts = []
    months = _month_starts(AS_OF, CARD_VOLUME_MONTHS, include_current=True)
    for offset, (customer, profile) in enumerate(zip(customers, profiles, strict=True)):
        currency = customer.default_currency
        per_usd = Decimal(book["team"][currency][3]) / Decimal(book["team"]["USD"][3])
        for month_start in months:
            end = min(AS_OF, (month_start + timedelta(days=32)).replace(day=1))
            start = max(month_start, customer.created_at)
            if start >= end:
                continue
            share = (end - start).total_seconds() / (31 * 86400)
            for _ in range(int(TOP_UPS_PER_MONTH * float(profile.size) * share * rng.uniform(0.5, 1.5)
                               + rng.random())):
                issued_at = _at_fraction(start, end, rng.random())
                usd = _weighted(rng, _TOP_UPS_USD)
                amount = max(100, int(Decimal(usd) * per_usd) * 100)  # a round amount in the customer's currency
                line = InvoiceLine(description="Prepaid GPU credit", kind="one_off", quantity=Decimal(1), unit="",
                                   unit_price_minor=amount, amount_minor=amount)
                drafts.append((first_index + offset, issued_at, issued_at, [line]))
    return drafts


def _ensure_pks(objects: list, model, key: str) -> None:
    """Backends that cannot return ids from a bulk insert: look them up by a natural key."""
    missing = [obj for obj in objects if obj.pk is None]
    if not missing:
        return
    ids = dict(model.objects.filter(**{f"{key}__in": [getattr(o, key) for o in missing]}).values_list(key, "pk"))
    for obj in missing:
        obj.pk = ids[getattr(obj, key)]


def seed_ledger(*, rng: random.Random) -> None:
    """Create the demo ledger once; a second call (any rng) changes nothing."""
    # The seed is all-or-nothing (one transaction), so its first customer marks a complete run.
    if Customer.objects.filter(external_id=f"{EXTERNAL_ID_PREFIX}0001").exists():
        logger.info("demo ledger already present; nothing to do")
        return

    book = _prices()
    with transaction.atomic():
        customers, profiles = _customers(rng)
        drafts = _invoice_drafts(rng, customers, profiles, book)
        self_serve, self_serve_profiles = _self_serve(rng)
        drafts += _top_up_drafts(rng, self_serve, self_serve_profiles, len(customers), book)
        drafts.sort(key=lambda d: (d[1], d[0]))
        customers += self_serve
        profiles += self_serve_profiles
        Customer.objects.bulk_create(customers, batch_size=1000)
        _ensure_pks(customers, Customer, "external_id")

        numbers: dict[int, int] = {}  # year -> last sequence used
        invoices: list[Invoice] = []
        for index, issued_at, due_at, lines in drafts:
            year = issued_at.year
            if year not in numbers:
                numbers[year] = int(invoice_next_number(year=year).rsplit("-", 1)[1]) - 1
            numbers[year] += 1
            invoices.append(
                Invoice(
                    customer=customers[index],
                    number=INVOICE_NUMBER_FORMAT.format(year=year, seq=numbers[year]),
                    currency=customers[index].default_currency,
                    amount_minor=sum(line.amount_minor for line in lines),
                    issued_at=issued_at,
                    due_at=due_at,
                    created_at=issued_at,
                )
            )
        refs = _References(rng)
        payments: list[Payment] = []
        for invoice, (index, *_rest) in zip(invoices, drafts, strict=True):
            payments += _settle(rng, invoice, profiles[index], refs)
        Invoice.objects.bulk_create(invoices, batch_size=1000)
        _ensure_pks(invoices, Invoice, "number")

        all_lines = []
        for invoice, (_index, _issued, _due, lines) in zip(invoices, drafts, strict=True):
            for line in lines:
                line.invoice = invoice
                all_lines.append(line)
        InvoiceLine.objects.bulk_create(all_lines, batch_size=1000)
        for payment in payments:
            payment.invoice_id = payment.invoice.pk
        Payment.objects.bulk_create(payments, batch_size=1000)

    logger.info(
        "demo ledger seeded: %d customers, %d invoices, %d payments",
        len(customers),
        len(invoices),
        len(payments),
        extra={"customers": len(customers), "invoices": len(invoices), "payments": len(payments)},
    )


def ledger_payment_arrives(*, invoice: Invoice, amount_minor: int, captured_at: datetime, reference: str) -> Payment:
    """A bank transfer for ``invoice`` reaches the imported ledger (written like the rest of it); the
    invoice is paid once its payments cover it."""
    payment = Payment(
        invoice=invoice, customer_id=invoice.customer_id, psp=Payment.Psp.SANDBOX, psp_reference=reference,
        method=Payment.Method.BANK_TRANSFER, method_detail="wire", amount_minor=amount_minor,
        currency=invoice.currency, captured_at=captured_at, created_at=captured_at,
    )
    with transaction.atomic():
        Payment.objects.bulk_create([payment])
        paid = sum(Payment.objects.filter(invoice=invoice).values_list("amount_minor", flat=True))
        if paid >= invoice.amount_minor:
            Invoice.objects.filter(pk=invoice.pk).update(status=Invoice.Status.PAID, paid_at=captured_at)
    return payment


def seed(*, rng: random.Random) -> None:
    """The entry point ``manage.py seed_demo`` calls for every app's demo module."""
    seed_ledger(rng=rng)
