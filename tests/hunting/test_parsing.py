"""``backoffice.parsing``: what each shared parser accepts, what it refuses, and that a refusal is a 400."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from backoffice.errors import InvalidInput
from backoffice.parsing import (
    MAX_ID,
    InvalidValue,
    clamp_to_window,
    parse_amount_minor,
    parse_date_value,
    parse_datetime_value,
    parse_id,
    parse_int,
    parse_json,
    parse_page,
    parse_text,
)


@pytest.mark.parametrize("value", ["²", "٣", "１", "1²", "", " ", "1_000", "0x10", "1e3", "12.0", "+", "9" * 20,
                                   None, 1.0, True, [], {}])
def test_integers_are_ascii_digits_only(value):
    with pytest.raises(InvalidValue):
        parse_int(value)


@pytest.mark.parametrize("value, expected", [("42", 42), (" 42 ", 42), ("-7", -7), (7, 7), ("+3", 3),
                                             (str(MAX_ID), MAX_ID)])
def test_integers_that_are_accepted(value, expected):
    assert parse_int(value) == expected


def test_an_id_is_positive_and_fits_a_bigint():
    assert parse_id("1") == 1 and parse_id(MAX_ID) == MAX_ID
    for value in (0, -1, MAX_ID + 1, str(2**64)):
        with pytest.raises(InvalidValue) as err:
            parse_id(value, field="payment")
        assert err.value.code == "invalid_id" and err.value.as_dict()["field"] == "payment"


def test_a_page_defaults_to_one_and_is_bounded():
    assert parse_page(None) == 1 and parse_page("") == 1 and parse_page("3") == 3
    for value in ("0", "999999999999999999", "²"):
        with pytest.raises(InvalidValue):
            parse_page(value)


@pytest.mark.parametrize("value", [12.0, "12.0", "12.5", 2**64, str(10**16), 0, -5, True, "²"])
def test_amounts_in_minor_units_are_whole_bounded_numbers(value):
    with pytest.raises(InvalidValue) as err:
        parse_amount_minor(value)
    assert err.value.code == "invalid_amount"


def test_an_amount_in_minor_units_that_is_accepted():
    assert parse_amount_minor(1050) == 1050 and parse_amount_minor("1050") == 1050


@pytest.mark.parametrize("text", [
    "9999-12-31T23:59:59-12:00",      # year 10000 once in UTC: Python could not read it back
    "0001-01-01T00:30:00+01:00",      # year 0 in UTC
    "10000-01-01T00:00:00Z", "0000-01-01", "9999-12-31",
    "2026-01-01T00:00:00+16:00", "2026-01-01T00:00:00-23:59", "2026-01-01T00:00:00+99:00",
    "1999-12-31T23:59:59Z", "2100-01-01T00:00:00Z",
    "２０２６-01-01", "٢٠٢٦-01-01T00:00:00Z", "2026-13-45T00:00:00Z", "tomorrow", "",
])
def test_datetimes_outside_the_window_or_not_iso_are_refused(text):
    with pytest.raises(InvalidValue) as err:
        parse_datetime_value(text, field="due_at")
    assert isinstance(err.value, InvalidInput) and err.value.status == 400


def test_datetimes_are_answered_in_utc_and_offsets_up_to_15_59_are_honoured():
    assert parse_datetime_value("2026-12-01T17:00:00+15:59") == datetime(2026, 12, 1, 1, 1, tzinfo=UTC)
    assert parse_datetime_value("2026-12-01T17:00:00-12:00") == datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    assert parse_datetime_value("2026-12-01T17:00") == datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    assert parse_datetime_value("2026-12-01", day_end=True) == datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC)
    assert parse_datetime_value("2099-12-31T23:59:59Z").year == 2099


def test_dates_are_inside_the_window():
    assert parse_date_value("2026-02-28") == date(2026, 2, 28)
    for text in ("1999-12-31", "2100-01-01", "9999-12-31", "0000-01-01", "2026-02-30", "2026-2-3"):
        with pytest.raises(InvalidValue):
            parse_date_value(text)


def test_text_refuses_nul_and_lone_surrogates_and_is_bounded():
    assert parse_text("  hello ") == "hello"
    for value in ("a\x00b", "\ud800", "x" * 11, 5):
        with pytest.raises(InvalidValue) as err:
            parse_text(value, max_length=10)
        assert err.value.code == "invalid_text"


def test_json_depth_and_size_are_bounded_before_parsing():
    assert parse_json(b'{"a": [1, {"b": "[[[[not a bracket"}]}') == {"a": [1, {"b": "[[[[not a bracket"}]}
    for body, code in (("[" * 10_000 + "]" * 10_000, "too_deep"), ('{"a":' * 10_000 + "1" + "}" * 10_000, "too_deep"),
                       (b"\xff", "malformed"), ("{", "malformed"), ('{"a": "\\ud800"}', "invalid_text"),
                       (b" " * 2_000_000, "too_large")):
        with pytest.raises(InvalidValue) as err:
            parse_json(body)
        assert err.value.code == code


def test_clamping_a_stored_value_puts_it_inside_the_window():
    assert clamp_to_window(datetime(9999, 12, 31, tzinfo=UTC)) == datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert clamp_to_window(datetime(1, 1, 1, tzinfo=UTC)) == datetime(2000, 1, 1, tzinfo=UTC)
