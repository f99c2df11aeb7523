"""A real browser (Debian's chromium via Playwright): every demo user logs in and sees their navigation."""

import os

import pytest

from backoffice.cases.management.commands.seed_demo import seed_users

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

LANDING = {"specialist": "/queues/due-soon/", "specialist2": "/queues/due-soon/", "lead": "/queues/approvals/",
           "lead2": "/queues/approvals/", "auditor": "/audit/", "admin": "/queues/approvals/"}
EXPECTED_NAV = {
    "specialist": ({"mine", "unassigned", "all", "api"}, {"approvals", "audit", "admin"}),
    "specialist2": ({"mine", "unassigned", "all", "api"}, {"approvals", "audit", "admin"}),
    "lead": ({"mine", "approvals", "audit", "all"}, {"admin"}),
    "lead2": ({"mine", "approvals", "audit", "all"}, {"admin"}),
    "auditor": ({"all", "audit", "overdue"}, {"mine", "approvals", "admin"}),
    "admin": ({"approvals", "audit", "admin"}, set()),
}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("username", list(EXPECTED_NAV))
def test_every_demo_user_logs_in_and_sees_their_navigation(live_server, page, username):
    seed_users()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{LANDING[username]}")  # each role starts where its work is
    shown = set(page.locator("nav.mainnav a").evaluate_all("els => els.map(e => e.dataset.nav)"))
    present, absent = EXPECTED_NAV[username]
    assert present <= shown, shown
    assert not (absent & shown), shown
    assert username in page.locator(".who .user").inner_text()
    page.click("text=Log out")
    page.wait_for_url(f"{live_server.url}/accounts/login/")
    assert page.locator("nav.mainnav").count() == 0
