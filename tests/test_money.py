"""Money: exponents and formatting come from Babel; parsing refuses anything inexact, with a reason."""

from decimal import Decimal

import pytest

from backoffice.errors import InvalidInput
from backoffice.money import (
    SUPPORTED_CURRENCIES,
    MoneyError,
    currency_exponent,
    format_minor,
    is_valid_currency,
    minor_to_decimal,
    parse_minor,
)


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [("JPY", 0), ("KWD", 3), ("USD", 2), ("EUR", 2), ("UZS", 2), ("KZT", 2), ("AZN", 2)],
)
def test_exponents_come_from_babel(currency, exponent):
    # Given an ISO currency, when asking for its minor unit, then Babel's CLDR data answers.
    assert currency_exponent(currency) == exponent


def test_every_supported_currency_is_valid():
    assert all(is_valid_currency(code) for code in SUPPORTED_CURRENCIES)


@pytest.mark.parametrize("code", ["usd", "US", "USDT", "ABC", "", None, 840])
def test_unknown_or_malformed_currency_codes_are_not_valid(code):
    assert not is_valid_currency(code)


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.34", "USD", 1234),
        ("12", "USD", 1200),
        ("12.3", "USD", 1230),
        ("12.340", "USD", 1234),  # trailing zeros do not make an amount inexact
        (" 5000 ", "KZT", 500000),
        ("1235", "JPY", 1235),
        ("1.234", "KWD", 1234),
        ("150000.50", "UZS", 15000050),
    ],
)
def test_parse_plain_decimal_strings_into_minor_units(text, currency, minor):
    assert parse_minor(text, currency) == minor


def test_parse_accepts_decimal_and_whole_int():
    assert parse_minor(Decimal("0.01"), "USD") == 1
    assert parse_minor(7, "EUR") == 700  # an int is whole major units


def test_parse_allows_negative_and_zero_only_when_asked():
    assert parse_minor("-12.34", "USD", positive=False) == -1234
    assert parse_minor("0", "USD", positive=False) == 0


@pytest.mark.parametrize(
    ("value", "currency", "message"),
    [
        ("1.234", "USD", "USD allows at most 2 decimal places"),
        ("1.5", "JPY", "JPY has no minor unit"),
        ("1.2345", "KWD", "KWD allows at most 3 decimal places"),
        ("1,234.50", "USD", "no thousands separators"),
        ("12,50", "EUR", "no thousands separators"),
        ("abc", "USD", "is not a valid amount"),
        ("1e3", "USD", "is not a valid amount"),
        ("", "USD", "Enter an amount"),
        ("0", "USD", "greater than zero"),
        ("-5", "USD", "greater than zero"),
        ("10", "usd", "not a known currency"),
        ("10", "XYZ", "not a known currency"),
        ("99999999999999999999", "USD", "too large"),
        (Decimal("NaN"), "USD", "finite"),
    ],
)
def test_parse_refuses_with_a_message_that_says_why(value, currency, message):
    with pytest.raises(MoneyError, match=message):
        parse_minor(value, currency)


def test_floats_are_refused_as_a_type_error():
    # Given 0.1 + 0.2 style arithmetic, when parsing a float, then it is refused outright.
    with pytest.raises(MoneyError, match="must not be floats") as caught:
        parse_minor(12.34, "USD")
    assert isinstance(caught.value, TypeError)


def test_money_errors_are_value_errors_and_400_domain_errors_with_stable_codes():
    with pytest.raises(MoneyError) as caught:
        parse_minor("1.234", "USD")
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, InvalidInput)
    assert caught.value.as_dict()["code"] == "too_many_decimals"
    with pytest.raises(MoneyError) as caught:
        parse_minor("1", "usd")
    assert caught.value.code == "invalid_currency"


def test_minor_to_decimal_is_exact():
    assert minor_to_decimal(1234, "USD") == Decimal("12.34")
    assert str(minor_to_decimal(1234, "USD")) == "12.34"
    assert str(minor_to_decimal(5, "KWD")) == "0.005"
    assert str(minor_to_decimal(1235, "JPY")) == "1235"
    assert minor_to_decimal(-1, "USD") == Decimal("-0.01")


def test_format_zero_decimal_currency_without_decimals():
    assert format_minor(1235, "JPY") == "¥1,235"


def test_format_usual_currencies():
    assert format_minor(1234, "USD") == "$12.34"
    assert format_minor(123456, "EUR", "de_DE") == "1.234,56\xa0€"
    assert format_minor(1234, "KWD") == "KWD1.234"


def test_format_cis_currencies_in_their_locales():
    assert format_minor(100000, "KZT", "kk_KZ") == "1\xa0000,00\xa0₸"
    assert format_minor(100000, "KZT", "ru_RU") == "1\xa0000,00\xa0KZT"
    assert "KZT" in format_minor(100000, "KZT")
    assert format_minor(100000, "KZT", "ru-RU") == format_minor(100000, "KZT", "ru_RU")


def test_format_refuses_floats_and_unknown_locales():
    with pytest.raises(MoneyError):
        format_minor(12.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(MoneyError, match="not a known locale"):
        format_minor(100, "USD", "xx_XX")


def test_parse_then_format_round_trips():
    assert format_minor(parse_minor("1234.5", "USD"), "USD") == "$1,234.50"
