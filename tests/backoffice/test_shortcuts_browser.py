"""The queues' keyboard shortcuts in a real browser (Debian's chromium): ``?`` lists them, ``j``/``k`` move
between rows, ``x`` selects, ``c`` claims the current row and ``o`` opens it."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from backoffice.cases.management.commands.seed_demo import seed_users
from disputes.models import Dispute
from tests.browser import assert_accessible, log_in, new_watched_page
from tests.disputes.factories import DisputeFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_specialist_works_the_unassigned_queue_from_the_keyboard(live_server, browser):
    seed_users()
    now = timezone.now()
    first, second = (DisputeFactory(assignee=None, internal_due_at=now + timedelta(days=days),
                                    due_at=now + timedelta(days=days + 2)) for days in (1, 2))
    watched = new_watched_page(browser)
    page = watched.page
    log_in(page, live_server.url, "specialist")
    page.goto(f"{live_server.url}/queues/unassigned/?type=disputes")

    page.keyboard.press("?")
    help_dialog = page.locator("#help")
    expect(help_dialog).to_be_visible()
    expect(help_dialog).to_contain_text("Claim the selected case")
    assert_accessible(page, context="shortcuts help")
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()

    first_row = page.locator(f"tr[data-reference='{first.reference}']")
    second_row = page.locator(f"tr[data-reference='{second.reference}']")
    for key in ("j", "j", "k"):
        page.keyboard.press(key)
    expect(first_row).to_have_class(re.compile(r"\brow-current\b"))
    expect(second_row).not_to_have_class(re.compile(r"\brow-current\b"))
    page.keyboard.press("x")
    expect(first_row.locator("input[name=ids]")).to_be_checked()
    page.keyboard.press("x")
    expect(first_row.locator("input[name=ids]")).not_to_be_checked()

    page.keyboard.press("c")  # claims the current row only
    expect(page.locator(f"tr[data-reference='{first.reference}']")).to_have_count(0)
    specialist = get_user_model().objects.get(username="specialist")
    assert Dispute.objects.get(pk=first.pk).assignee == specialist
    assert Dispute.objects.get(pk=second.pk).assignee is None

    page.keyboard.press("j")
    page.keyboard.press("o")
    page.wait_for_url(f"{live_server.url}/disputes/{second.pk}/")
    watched.assert_no_console_errors()
