"""After a suite-like workload (the whole demo seed: customers, payments, disputes with evidence, refunds
through the gateway, extensions, PSP webhooks, notifications), no stored text, webhook body or log line
carries a card number: a Luhn-valid run of 13 to 19 digits (spaces or dashes allowed between them).

PSP identifiers are not card numbers even when a 16-digit Adyen ``pspReference`` happens to pass Luhn;
they are recognised by the column they are stored in and left out of the search.
"""

from __future__ import annotations

import json
import logging
import re

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import models

from backoffice.cases.models import Comment
from backoffice.parsing import luhn_valid
from tests.disputes.factories import DisputeFactory

pytestmark = pytest.mark.django_db

# A run of digits standing alone: not inside a hex digest or another alphanumeric token (a SHA-256 in a
# journal context holds 13+ digit runs that pass Luhn one time in ten).
CARD = re.compile(r"(?<![0-9A-Za-z])[0-9](?:[ -]?[0-9]){12,18}(?![0-9A-Za-z])")
TEXT_FIELDS = (models.CharField, models.TextField, models.JSONField, models.BinaryField)
IDENTIFIER = re.compile(r"psp|reference|external_id|idempotency|_key$|hash|token|sha256|signature", re.I)


def card_numbers(text: str, known: set[str]) -> list[str]:
    found = []
    for match in CARD.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits) and digits not in known:
            found.append(digits)
    return found


def as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return value if isinstance(value, str) else json.dumps(value, default=str)


def stored_texts():
    """(model, field, text) for every text, JSON and binary column of every model."""
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        for field in model._meta.concrete_fields:
            if isinstance(field, TEXT_FIELDS):
                for value in model._default_manager.values_list(field.attname, flat=True).iterator():
                    yield model, field, as_text(value)


class Capture(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(f"{record.name} {record.getMessage()} {record.__dict__.get('extra', '')}")


@pytest.fixture
def captured_logs():
    handler = Capture()
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in list(logging.root.manager.loggerDict))]
    levels = {logger: logger.level for logger in loggers}
    for logger in loggers:
        logger.addHandler(handler)
        if logger.level > logging.DEBUG or logger is logging.getLogger():
            logger.setLevel(logging.DEBUG)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)
        logger.setLevel(levels[logger])


def scan(captured_logs) -> tuple[int, list[tuple[str, str]]]:
    known: set[str] = set()
    texts = []
    for model, field, text in stored_texts():
        if IDENTIFIER.search(field.name):
            known.update(re.sub(r"[ -]", "", m.group()) for m in CARD.finditer(text))
        else:
            texts.append((f"{model._meta.label}.{field.name}", text))
    found = [(where, number) for where, text in texts for number in card_numbers(text, known)]
    found += [("log", number) for line in captured_logs.lines for number in card_numbers(line, known)]
    return len(texts), found


def test_no_card_number_is_stored_or_logged_after_the_demo_workload(captured_logs, settings):
    settings.PAYMENT_GATEWAY = "sandbox"
    call_command("seed_demo", verbosity=0)
    searched, found = scan(captured_logs)
    assert searched > 1000 and captured_logs.lines, "the workload stored and logged something to search"
    assert not found, f"card-number-like values stored or logged: {found[:20]}"


def test_the_scan_reads_stored_text_and_log_lines(captured_logs, specialist):
    """The scan can fail: a card number in a stored comment (written behind the services' back: they refuse
    it, tests/hunting/test_card_numbers_refused.py) and one in a log line are both found."""
    dispute = DisputeFactory(assignee=specialist)
    Comment.objects.create(content_type=ContentType.objects.get_for_model(dispute), object_id=dispute.pk,
                           author=specialist, body="Customer read out 4242 4242 4242 4242 on the phone")
    logging.getLogger("disputes").warning("card %s", "5555-5555-5555-4444")
    _, found = scan(captured_logs)
    assert ("cases.Comment.body", "4242424242424242") in found and ("log", "5555555555554444") in found


def test_the_search_finds_a_card_number_where_there_is_one():
    """The detector itself: a Visa test number with spaces or dashes, not an order number or a date."""
    assert card_numbers("paid with 4242 4242 4242 4242 yesterday", set()) == ["4242424242424242"]
    assert card_numbers("card 4111-1111-1111-1111", set()) == ["4111111111111111"]
    assert card_numbers("order 4242424242424241, 2026-11-30 13:11:30", set()) == []
    assert card_numbers("ref 4242424242424242", {"4242424242424242"}) == []
