"""Money helpers: integer minor units plus an ISO 4217 code, with exponents and formatting from Babel.

Amounts are never floats. ``parse_minor`` turns what a person typed (``"12.34"``) into minor units
(``1234``), ``format_minor`` turns minor units back into what a person reads (``"$12.34"``).
Every refusal is a :class:`MoneyError`, which is both a ``ValueError`` and the project's
``InvalidInput`` domain error, so interfaces answer it as a 400 with a stable code.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from babel.core import Locale, UnknownLocaleError
from babel.numbers import format_currency, get_currency_precision, list_currencies

from backoffice.errors import InvalidInput

__all__ = [
    "SUPPORTED_CURRENCIES",
    "MAX_MINOR",
    "MoneyError",
    "currency_exponent",
    "format_minor",
    "is_valid_currency",
    "minor_to_decimal",
    "parse_minor",
    "round_half_up",
]

# The demo's default set; any ISO 4217 code Babel knows is accepted.
SUPPORTED_CURRENCIES: tuple[str, ...] = ("USD", "EUR", "GBP", "KZT", "AZN", "UZS")

# Amounts are stored in 64-bit integer columns.
MAX_MINOR = 2**63 - 1

_CURRENCY_SHAPE = re.compile(r"[A-Z]{3}")
_PLAIN_DECIMAL = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_MAX_INPUT_CHARS = 40


class MoneyError(InvalidInput, ValueError):
    """An amount or currency that cannot be accepted; the message says why, in words a user understands."""

    code = "invalid_amount"


@lru_cache(maxsize=1)
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def is_valid_currency(code: object) -> bool:
    """True for a three-letter upper-case ISO 4217 code that Babel knows (``"USD"``, ``"KZT"``)."""
    return isinstance(code, str) and bool(_CURRENCY_SHAPE.fullmatch(code)) and code in _known_currencies()


def _check_currency(currency: object) -> str:
    if not is_valid_currency(currency):
        raise MoneyError(
            f"{currency!r} is not a known currency: use a three-letter upper-case ISO 4217 code such as USD.",
            code="invalid_currency",
        )
    return currency  # type: ignore[return-value]


def currency_exponent(currency: str) -> int:
    """Number of decimals of the currency's minor unit, from Babel/CLDR: JPY 0, USD 2, KWD 3."""
    return get_currency_precision(_check_currency(currency))


def round_half_up(value: Decimal) -> int:
    """Round a Decimal to the nearest integer, halves away from zero (the invoicing convention)."""
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def _check_minor(amount_minor: object) -> int:
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise MoneyError(
            f"An amount in minor units must be an integer, not {type(amount_minor).__name__}.",
        )
    if abs(amount_minor) > MAX_MINOR:
        raise MoneyError("The amount is too large.")
    return amount_minor


def minor_to_decimal(amount_minor: int, currency: str) -> Decimal:
    """Minor units as an exact Decimal in major units: ``minor_to_decimal(1234, "USD")`` is ``12.34``."""
    amount_minor = _check_minor(amount_minor)
    exponent = currency_exponent(currency)
    sign = 1 if amount_minor < 0 else 0
    return Decimal((sign, tuple(int(d) for d in str(abs(amount_minor))), -exponent))


def parse_minor(value: str | Decimal | int, currency: str, *, positive: bool = True) -> int:
    """Parse an amount in major units into minor units of ``currency``.

    Accepts a plain decimal string with ``.`` as separator (``"12.34"``, ``"1500"``), a ``Decimal``
    or an ``int`` (whole major units). Refuses floats, grouping separators (``"1,234.50"``),
    exponents, more decimals than the currency has (``"1.234"`` USD, ``"1.5"`` JPY) and, when
    ``positive`` (the default), zero and negative amounts. Trailing zeros are fine (``"12.340"``).
    """
    currency = _check_currency(currency)
    exponent = currency_exponent(currency)

    if isinstance(value, float):
        raise _FloatAmountError(
            "Amounts must not be floats: pass a decimal string such as '12.34', a Decimal or an int."
        )
    if isinstance(value, bool):
        raise MoneyError("An amount must be a number, not a boolean.")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise MoneyError("An amount must be a finite number.")
        amount = value
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise MoneyError("Enter an amount.")
        if len(text) > _MAX_INPUT_CHARS or not _PLAIN_DECIMAL.fullmatch(text):
            raise MoneyError(
                f"{value!r} is not a valid amount: use digits with an optional '.' and no "
                "thousands separators, e.g. 1234.50."
            )
        try:
            amount = Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the pattern above already guarantees a number
            raise MoneyError(f"{value!r} is not a valid amount.") from exc
    else:
        raise MoneyError(f"An amount must be a decimal string, Decimal or int, not {type(value).__name__}.")

    # Refuse absurd magnitudes before scaling, so a huge exponent cannot cost time or memory.
    if amount and amount.adjusted() > 18:
        raise MoneyError(f"{value!r} is too large an amount.")
    if len(amount.as_tuple().digits) > _MAX_INPUT_CHARS:
        raise MoneyError(f"{value!r} has too many digits to be an amount.")

    # Exact integer arithmetic: no context precision can round a stray digit away.
    sign, digits, exp = amount.as_tuple()
    coefficient = int("".join(map(str, digits))) if digits else 0
    shift = exp + exponent  # type: ignore[operator]  (finite, so exp is an int)
    if coefficient == 0:
        minor = 0
    elif shift >= 0:
        minor = coefficient * 10**shift
    else:
        remainder = 1
        if -shift <= len(digits):
            coefficient, remainder = divmod(coefficient, 10**-shift)
        if remainder:
            if exponent == 0:
                allowed = f"{currency} has no minor unit, so amounts must be whole numbers"
            else:
                plural = "s" if exponent > 1 else ""
                allowed = f"{currency} allows at most {exponent} decimal place{plural}"
            raise MoneyError(f"{value!r} has too many decimal places: {allowed}.", code="too_many_decimals")
        minor = coefficient
    if sign:
        minor = -minor

    if abs(minor) > MAX_MINOR:
        raise MoneyError(f"{value!r} is too large an amount.")
    if positive and minor <= 0:
        raise MoneyError(f"The amount must be greater than zero, got {value!r}.", code="amount_not_positive")
    return minor


def format_minor(amount_minor: int, currency: str, locale: str = "en_US") -> str:
    """Format minor units for people, with Babel's symbol, grouping and the currency's decimals.

    ``format_minor(1235, "JPY") == "¥1,235"``, ``format_minor(1234, "USD") == "$12.34"``,
    ``format_minor(100000, "KZT", "kk_KZ") == "1 000,00 ₸"`` (Babel's non-breaking spaces).
    """
    value = minor_to_decimal(amount_minor, currency)
    try:
        babel_locale = Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError, AttributeError) as exc:
        raise MoneyError(f"{locale!r} is not a known locale.", code="invalid_locale") from exc
    return format_currency(value, currency, locale=babel_locale, currency_digits=True)


class _FloatAmountError(MoneyError, TypeError):
    """A float was passed where an exact amount is needed (both a MoneyError and a TypeError)."""


# ---------------------------------------------------------------- money for readers (pages, tables)

_SYMBOL_SPACE = "\xa0"


@lru_cache(maxsize=256)
def home_symbol(currency: str) -> str:
    """The symbol a currency has where it is used (``KZT`` → ``₸``, ``AZN`` → ``₼``, ``UZS`` → ``soʻm``),
    from the CLDR data of the locales of the territories that use it; the ISO code when none has one."""
    from babel.core import get_global, localedata

    currency = _check_currency(currency)
    territories = [territory for territory, entries in get_global("territory_currencies").items()
                   if any(entry[0] == currency and entry[1] is not None and entry[2] is None for entry in entries)]
    candidates: list[str] = []
    for identifier in localedata.locale_identifiers():
        parts = identifier.split("_")
        if len(parts) >= 2 and parts[-1] in territories:
            candidates.append(identifier)
    # "uz_UZ" before "uz_Cyrl_UZ": the plain language-territory locale is the one in common use.
    for identifier in sorted(candidates, key=lambda name: (name.count("_"), name)):
        symbol = Locale.parse(identifier).currency_symbols.get(currency)
        if symbol and symbol != currency and _readable_in_latin_text(symbol):
            return symbol
    return currency


def _readable_in_latin_text(symbol: str) -> bool:
    """A symbol that reads well inside a Latin-script page: signs (₸, ₼) or Latin letters, no bidi marks."""
    import unicodedata

    for char in symbol:
        category = unicodedata.category(char)
        if category.startswith("C"):
            return False
        if char.isalpha() and category != "Lm" and not unicodedata.name(char, "").startswith("LATIN"):
            return False
    return True


def format_money(amount_minor: int, currency: str, locale: str = "en_US") -> str:
    """Minor units for a reader in ``locale``: the locale's grouping, decimal sign and pattern, the
    currency's own number of decimals, and its symbol — the locale's, or where the locale has none
    (English has none for KZT, AZN, UZS) the symbol used at home (``₸411,244.93``, ``soʻm 151,800,000.00``).
    """
    text = format_minor(amount_minor, currency, locale)
    try:
        babel_locale = Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError, AttributeError):  # pragma: no cover - format_minor refused
        return text
    if babel_locale.currency_symbols.get(currency, currency) != currency or currency not in text:
        return text
    symbol = home_symbol(currency)
    if symbol == currency:
        return text
    start = text.index(currency)
    before, after = text[:start], text[start + len(currency):]
    # CLDR currency spacing: a symbol that ends (or starts) with a letter is kept apart from the digits.
    if symbol[-1].isalpha() and after[:1].isdigit():
        after = _SYMBOL_SPACE + after
    if symbol[0].isalpha() and before[-1:].isdigit():
        before = before + _SYMBOL_SPACE
    return f"{before}{symbol}{after}"
