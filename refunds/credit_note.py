"""The credit note for a succeeded refund: number, customer, original invoice and payment, amount in
figures (the currency's own format, e.g. JPY without decimals) and in words, and the reason.

Generated on demand from the refund's facts, which cannot change once it has succeeded (a
terminal state), so the same refund always yields the same document; nothing is stored.
Rendering runs outside any transaction and row lock.
"""

from __future__ import annotations

from babel.numbers import get_currency_name
from django.template.loader import render_to_string

from backoffice.errors import BusinessRuleViolation
from backoffice.money import currency_exponent, format_minor
from backoffice.pdf import render_pdf

from .models import Refund, RefundState

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**18, "quintillion"), (10**15, "quadrillion"), (10**12, "trillion"), (10**9, "billion"),
           (10**6, "million"), (10**3, "thousand"))

# Names of the minor unit in English words, where they are well known; other currencies show a fraction.
_MINOR_UNIT_NAMES = {
    "USD": ("cent", "cents"), "EUR": ("cent", "cents"), "CAD": ("cent", "cents"), "AUD": ("cent", "cents"),
    "GBP": ("penny", "pence"), "KZT": ("tiyn", "tiyn"), "UZS": ("tiyin", "tiyin"), "AZN": ("qapik", "qapik"),
    "RUB": ("kopeck", "kopecks"), "CHF": ("centime", "centimes"),
}


def _below_thousand(n: int) -> str:
    words = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words.append(f"{_ONES[hundreds]} hundred")
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_TENS[tens] + (f"-{_ONES[ones]}" if ones else ""))
    elif rest or not hundreds:
        words.append(_ONES[rest])
    return " ".join(words)


def number_to_words(n: int) -> str:
    """A non-negative integer in English words: ``1234`` → ``"one thousand two hundred thirty-four"``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError("number_to_words takes a non-negative integer")
    if n < 1000:
        return _below_thousand(n)
    words = []
    for scale, name in _SCALES:
        count, n = divmod(n, scale)
        if count:
            words.append(f"{number_to_words(count)} {name}")
    if n:
        words.append(_below_thousand(n))
    return " ".join(words)


def amount_in_words(amount_minor: int, currency: str) -> str:
    """``amount_in_words(123450, "USD")`` → ``"one thousand two hundred thirty-four US dollars and 50 cents"``.

    Currency names come from Babel (CLDR); zero-decimal currencies have no minor part
    (``"one thousand two hundred thirty-five Japanese yen"``).
    """
    exponent = currency_exponent(currency)
    major, minor = divmod(amount_minor, 10**exponent)
    text = f"{number_to_words(major)} {get_currency_name(currency, count=major, locale='en')}"
    if exponent == 0 or minor == 0:
        return text
    names = _MINOR_UNIT_NAMES.get(currency)
    if names is None:
        return f"{text} and {minor:0{exponent}d}/{10**exponent}"
    return f"{text} and {minor} {names[0] if minor == 1 else names[1]}"


def credit_note_number(*, refund: Refund) -> str:
    """``CN-<year the refund succeeded>-<refund id, 6 digits>``: unique, and stable for the refund."""
    year = (refund.succeeded_at or refund.updated_at).year
    return f"CN-{year}-{refund.pk:06d}"


def credit_note_available(*, refund: Refund) -> bool:
    """A succeeded refund's credit note; it stays readable, marked VOID, when the PSP later reported the
    refund failed (accounting keeps the issued number and its voiding)."""
    return refund.state == RefundState.SUCCEEDED or refund.credit_note_voided_at is not None


def credit_note_voided(*, refund: Refund) -> bool:
    return refund.credit_note_voided_at is not None


def credit_note_context(*, refund: Refund) -> dict:
    payment = refund.payment
    invoice = payment.invoice
    return {
        "number": credit_note_number(refund=refund),
        "issued_at": refund.succeeded_at,
        "refund": refund,
        "customer": payment.customer,
        "invoice": invoice,
        "invoice_amount": format_minor(invoice.amount_minor, invoice.currency),
        "payment": payment,
        "payment_amount": format_minor(payment.amount_minor, payment.currency),
        "amount": format_minor(refund.amount_minor, refund.currency),
        "amount_words": amount_in_words(refund.amount_minor, refund.currency),
        "reason": refund.get_reason_display(),
        "voided_at": refund.credit_note_voided_at,
    }


def credit_note_pdf(*, refund: Refund) -> bytes:
    """The PDF; refused with ``credit_note_unavailable`` until the refund has succeeded."""
    if not credit_note_available(refund=refund):
        raise BusinessRuleViolation(
            f"{refund.reference} has no credit note: it is '{refund.state}', and credit notes document "
            "succeeded refunds only.",
            code="credit_note_unavailable",
        )
    html = render_to_string("refunds/credit_note.html", credit_note_context(refund=refund))
    return render_pdf(html)
