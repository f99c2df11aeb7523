"""Role × write × interface: each write tried by each role through the API, the pages and the admin.

"allowed" means the write happened (a row or a state changed); "refused" means nothing changed, whatever
the interface answers (403, a 403 page, a redirect to the admin's login, a message on the page).
DESIGN.md "Roles and permissions": specialists and team leads work cases, only team leads reassign and
approve money going out (the specialists' limit is 0), auditors read. The admin is for staff only.
"""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from rest_framework.test import APIClient

from backoffice.accounts.services import api_token_issue
from backoffice.cases.models import Comment
from refunds.models import Refund
from tests.invoices.factories import PaymentFactory
from tests.refunds.factories import request_refund

pytestmark = pytest.mark.django_db

ROLES = ["specialist", "lead", "auditor", "superuser_lead"]
ALLOWED = {  # write -> roles that may do it (on every interface that offers it)
    "comment": {"specialist", "lead", "superuser_lead"},
    "claim": {"specialist", "lead", "superuser_lead"},
    "assign": {"lead", "superuser_lead"},
    "request_refund": {"specialist", "lead", "superuser_lead"},
    "approve_refund": {"lead", "superuser_lead"},
}


def comments(refund) -> int:
    return Comment.objects.filter(content_type=ContentType.objects.get_for_model(Refund), object_id=refund.pk).count()


class Scene:
    """A refund requested by someone else (four-eyes holds for every role), unassigned, on a fresh payment."""

    def __init__(self, requester, assignee):
        self.refund = request_refund(requester=requester, amount_minor=1000)
        Refund.objects.filter(pk=self.refund.pk).update(assignee=None)
        self.payment = PaymentFactory()
        self.assignee = assignee

    def observe(self) -> dict:
        refund = Refund.objects.get(pk=self.refund.pk)
        return {"comments": comments(refund), "assignee": refund.assignee_id, "state": refund.state,
                "refunds": Refund.objects.filter(payment=self.payment).count()}


def api_write(client, scene, write):
    refund = scene.refund.pk
    return {
        "comment": lambda: client.post(f"/api/v1/refunds/{refund}/comments/", {"body": "Checked"}, format="json"),
        "claim": lambda: client.post(f"/api/v1/refunds/{refund}/claim/", {}, format="json"),
        "assign": lambda: client.post(f"/api/v1/refunds/{refund}/assign/", {"assignee": scene.assignee.pk},
                                      format="json"),
        "request_refund": lambda: client.post("/api/v1/refunds/", {"payment": scene.payment.pk, "amount_minor": 500,
                                                                   "reason": "goodwill"}, format="json"),
        "approve_refund": lambda: client.post(f"/api/v1/refunds/{refund}/transitions/approve/",
                                              {"reason": "Checked the invoice"}, format="json"),
    }[write]()


def page_write(client, scene, write):
    refund = scene.refund.pk
    return {
        "comment": lambda: client.post(f"/cases/refunds/{refund}/comment/", {"body": "Checked"}),
        "claim": lambda: client.post(f"/cases/refunds/{refund}/claim/"),
        "assign": lambda: client.post(f"/cases/refunds/{refund}/assign/", {"assignee": scene.assignee.pk}),
        "request_refund": lambda: client.post("/refunds/new/", {"payment": str(scene.payment.pk), "amount": "5.00",
                                                                "reason": "goodwill", "note": "x"}),
        "approve_refund": lambda: client.post(f"/cases/refunds/{refund}/transition/approve/",
                                              {"reason": "Checked the invoice"}),
    }[write]()


def admin_write(client, scene, write):
    """The admin offers approving (an action through the service); the other writes are not admin writes."""
    if write != "approve_refund":
        return None
    return client.post("/admin/refunds/refund/", {"action": "approve_selected", "_selected_action": [scene.refund.pk],
                                                  "confirm": "yes", "reason": "Checked the invoice"})


def changed(before: dict, after: dict, write: str) -> bool:
    key = {"comment": "comments", "claim": "assignee", "assign": "assignee", "request_refund": "refunds",
           "approve_refund": "state"}[write]
    return before[key] != after[key]


@pytest.mark.parametrize("interface", ["api", "page", "admin"])
@pytest.mark.parametrize("role", ROLES)
def test_each_role_may_do_exactly_the_writes_its_role_allows(role, interface, request, specialist2, lead2):
    user = request.getfixturevalue(role)
    mismatches = []
    for write in ALLOWED:
        scene = Scene(requester=specialist2, assignee=lead2)
        if interface == "api":
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_issue(user=user)[1]}")
            do = api_write
        else:
            client = Client()
            client.force_login(user)
            do = page_write if interface == "page" else admin_write
        before = scene.observe()
        response = do(client, scene, write)
        if response is None:
            continue
        assert response.status_code < 500, (role, interface, write, response.status_code)
        expected = role in ALLOWED[write] and (interface != "admin" or user.is_staff)
        if changed(before, scene.observe(), write) != expected:
            mismatches.append(f"{role} {write} via {interface}: {'allowed' if not expected else 'refused'} "
                              f"(status {response.status_code})")
        if interface == "api" and not expected:
            if response.status_code not in (403, 401):
                mismatches.append(f"{role} {write} via api: refused with {response.status_code}, not 403")
    assert not mismatches, "\n".join(mismatches)
