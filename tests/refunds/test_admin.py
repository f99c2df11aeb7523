"""The admin: read-only refunds, decisions only through actions that call the services."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from refunds.models import Refund, RefundApproval

from .factories import RefundFactory, request_refund

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/refunds/refund/"


def run_action(client, action, refunds, reason="", confirm=True):
    data = {"action": action, ACTION_CHECKBOX_NAME: [r.pk for r in refunds], "index": 0}
    if confirm:
        data.update(confirm="yes", reason=reason)
    return client.post(CHANGELIST, data, follow=True)


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def test_an_action_first_asks_for_a_reason(client, superuser_lead, specialist):
    refund = request_refund(requester=specialist)
    client.force_login(superuser_lead)

    response = run_action(client, "approve_selected", [refund], confirm=False)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="reason"' in html and refund.reference in html
    assert Refund.objects.get(pk=refund.pk).state == "pending_approval"


def test_a_superuser_cannot_approve_their_own_request_in_the_admin(client, superuser_lead):
    refund = request_refund(requester=superuser_lead)
    client.force_login(superuser_lead)

    response = run_action(client, "approve_selected", [refund], reason="It is mine and it is fine")

    assert any("self_approval_forbidden" in m for m in messages_of(response))
    assert Refund.objects.get(pk=refund.pk).state == "pending_approval"
    assert not RefundApproval.objects.exists()


def test_admin_actions_call_the_services(client, superuser_lead, specialist, commit):
    to_approve = request_refund(requester=specialist, amount_minor=1500)
    to_reject = request_refund(requester=specialist, amount_minor=1600)
    client.force_login(superuser_lead)

    with commit():
        approved = run_action(client, "approve_selected", [to_approve], reason="Checked in the admin")
    rejected = run_action(client, "reject_selected", [to_reject], reason="Not eligible")
    no_reason = run_action(client, "reject_selected", [request_refund(requester=specialist)], reason="")

    assert Refund.objects.get(pk=to_approve.pk).state == "succeeded"
    assert any("Approve: 1 refund(s) done." in m for m in messages_of(approved))
    assert Refund.objects.get(pk=to_reject.pk).state == "rejected"
    assert RefundApproval.objects.get(refund=to_reject).reason == "Not eligible"
    assert rejected.status_code == 200
    assert "Give a reason." in no_reason.content.decode()


def test_cancel_and_retry_in_the_admin(client, superuser_lead, specialist, commit):
    pending = request_refund(requester=specialist)
    failed = RefundFactory(requester=specialist, state="failed", failure_code="expired_card")
    client.force_login(superuser_lead)

    run_action(client, "cancel_selected", [pending], reason="Duplicate request")
    with commit():
        run_action(client, "retry_selected", [failed], reason="Card updated")

    assert Refund.objects.get(pk=pending.pk).state == "cancelled"
    assert Refund.objects.get(pk=failed.pk).state == "succeeded"


def test_the_admin_pages_render_read_only(client, superuser_lead, specialist, lead):
    refund = request_refund(requester=specialist)
    client.force_login(superuser_lead)
    assert client.get(CHANGELIST).status_code == 200
    assert client.get(f"{CHANGELIST}?state__exact=pending_approval&q={refund.reference}").status_code == 200
    change = client.get(f"{CHANGELIST}{refund.pk}/change/")
    assert change.status_code == 200 and refund.reference in change.content.decode()
    assert client.get(f"{CHANGELIST}add/").status_code == 403
    assert client.get("/admin/refunds/refundapproval/").status_code == 200
    assert client.get("/admin/gateway/sandboxrefund/").status_code == 200
