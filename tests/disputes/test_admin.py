"""The admin: dispute list with the shared FilterSet, transitions only as actions through the services."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages

from disputes.models import Dispute

from .factories import DisputeFactory, reason


@pytest.fixture
def admin_client(client, superuser_lead):
    client.force_login(superuser_lead)
    return client


@pytest.mark.django_db
def test_the_dispute_list_filters_and_searches_like_the_queue(admin_client):
    visa = DisputeFactory()
    amex = DisputeFactory(payment__network="amex", network="amex", reason_code=reason("F29", "amex"),
                          state="inquiry")

    page = admin_client.get("/admin/disputes/dispute/").content.decode()
    assert visa.reference in page and amex.reference in page and "reason category" in page

    by_category = admin_client.get("/admin/disputes/dispute/", {"category": "fraud"}).content.decode()
    assert amex.reference in by_category and visa.reference not in by_category
    by_state = admin_client.get("/admin/disputes/dispute/", {"state": "needs_response"}).content.decode()
    assert visa.reference in by_state and amex.reference not in by_state
    searched = admin_client.get("/admin/disputes/dispute/", {"q": amex.psp_dispute_id}).content.decode()
    assert amex.reference in searched and visa.reference not in searched
    assert admin_client.get(f"/admin/disputes/dispute/{visa.pk}/change/").status_code == 200
    assert admin_client.get("/admin/disputes/reasoncode/").status_code == 200
    assert admin_client.get("/admin/disputes/evidenceitem/").status_code == 200


@pytest.mark.django_db
def test_admin_actions_go_through_the_service_and_report_refusals(admin_client):
    waiting, inquiry = DisputeFactory(), DisputeFactory(state="inquiry")

    response = admin_client.post("/admin/disputes/dispute/", {
        "action": "accept_selected", "_selected_action": [waiting.pk, inquiry.pk], "confirm": "yes"}, follow=True)

    assert response.status_code == 200
    assert Dispute.objects.get(pk=waiting.pk).state == "accepted"
    assert Dispute.objects.get(pk=inquiry.pk).state == "inquiry"
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("1 dispute(s) done" in m for m in shown)
    assert any("transition_not_allowed" in m for m in shown)
