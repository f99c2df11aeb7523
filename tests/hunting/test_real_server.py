"""Through the real HTTP server (``live_server``, a socket on loopback, urllib as the client): hostile values
answer 400 with ``{"detail", "code"}``, not 500, and the case is unchanged."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from backoffice.accounts.services import api_token_issue
from disputes.models import Dispute
from tests.disputes.factories import DisputeFactory

pytestmark = pytest.mark.django_db(transaction=True)


def call(url: str, *, token: str, body: dict | str | None = None) -> tuple[int, dict]:
    data = None if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                     headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback test server)
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def test_hostile_values_through_the_real_server_are_400_not_500(live_server, specialist):
    assert live_server.url.startswith("http://localhost") or live_server.url.startswith("http://127.0.0.1")
    dispute = DisputeFactory(assignee=specialist, state="inquiry")
    token = api_token_issue(user=specialist)[1]
    base = f"{live_server.url}/api/v1/disputes/"
    cases = [
        (f"{base}{dispute.pk}/transitions/open_chargeback/", {"due_at": "9999-12-31T23:59:59-12:00", "reason": "x"}),
        (f"{base}?" + urllib.parse.urlencode({"due_before": "2026-01-01T00:00:00+16:00"}), None),
        (f"{base}?" + urllib.parse.urlencode({"page": "²"}), None),
        (f"{base}?" + urllib.parse.urlencode({"q": "a\x00b"}), None),
        (f"{base}{dispute.pk}/comments/", "[" * 10_000 + "]" * 10_000),
        (f"{live_server.url}/api/v1/refunds/", {"payment": 2**64, "amount_minor": 12.0, "reason": "goodwill"}),
    ]
    for url, body in cases:
        status, answer = call(url, token=token, body=body)
        assert status == 400, (url, status, answer)
        assert {"detail", "code"} <= set(answer), answer
    dispute.refresh_from_db()
    assert dispute.state == "inquiry" and Dispute.objects.get(pk=dispute.pk).due_at == dispute.due_at
