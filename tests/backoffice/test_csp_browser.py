"""In a real browser (Debian's chromium), no page breaks the Content-Security-Policy."""

import os

import pytest

from backoffice.cases.management.commands.seed_demo import seed_users
from tests.backoffice.factories import make_ticket
from tests.disputes.factories import DisputeFactory

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_pages_run_under_the_policy_without_a_violation(live_server, page):
    seed_users()
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.get(username="admin")
    ticket = make_ticket(requester=admin)
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(f"{page.url}: {msg.text}")
            if "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda exc: violations.append(f"{page.url}: {exc}"))

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)  # the role's landing page
    for path in ("/queues/all/", f"/tickets/{ticket.pk}/", "/audit/", "/dashboard/", "/admin/",
                 "/admin/journal/journalentry/", "/api/docs/", "/api/v1/tickets/", "/accounts/2fa/setup/"):
        response = page.goto(f"{live_server.url}{path}")
        assert response.status < 400, path
        assert "script-src 'self';" in response.headers["content-security-policy"] + ";", path
        page.wait_for_timeout(150)  # let the scripts run (and any violation be reported)
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info", timeout=15000)  # the docs render: their script ran from a file

    # Accepting a dispute asks first (data-confirm on the form, handled by static/js/app.js); dismissing keeps it open.
    dispute = DisputeFactory()
    page.goto(f"{live_server.url}/disputes/{dispute.pk}/")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.fill("form[data-transition=accept] input[name=reason]", "customer agreed")
    page.locator("form[data-transition=accept] button[type=submit]").click()
    page.wait_for_timeout(300)
    assert dialogs == [f"Accept liability for {dispute.reference}? The money is lost."]
    dispute.refresh_from_db()
    assert dispute.state == "needs_response"
    assert violations == []
