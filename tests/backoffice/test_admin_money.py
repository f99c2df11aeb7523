"""The admin shows money in major units with each currency's symbol and dates in ISO order."""

from __future__ import annotations

import pytest

from backoffice.roles.models import ApprovalLimit, DualApprovalThreshold
from tests.disputes.factories import DisputeFactory
from tests.refunds.factories import request_refund

pytestmark = pytest.mark.django_db


def test_admin_lists_show_major_units_and_iso_dates(client, superuser_lead, specialist):
    dispute = DisputeFactory(payment__currency="KZT", payment__amount_minor=41124493)
    refund = request_refund(requester=specialist, amount_minor=1999)
    client.force_login(superuser_lead)
    html = client.get("/admin/disputes/dispute/").content.decode()
    assert "₸411,244.93" in html and "41124493" not in html
    assert "$19.99" in client.get("/admin/refunds/refund/").content.decode()
    detail = client.get(f"/admin/refunds/refund/{refund.pk}/change/").content.decode()
    assert "$19.99" in detail and f"{refund.created_at:%Y-%m-%d}" in detail
    assert dispute.reference in html


def test_limits_are_edited_in_major_units(client, superuser_lead):
    client.force_login(superuser_lead)
    limit = ApprovalLimit.objects.get(role="team_lead", action="refund_approve", currency="USD")
    form = client.get(f"/admin/roles/approvallimit/{limit.pk}/change/").content.decode()
    assert 'value="5000.00"' in form
    client.post(f"/admin/roles/approvallimit/{limit.pk}/change/",
                {"role": "team_lead", "action": "refund_approve", "currency": "USD", "limit_value": "7500.50"})
    limit.refresh_from_db()
    assert limit.limit == 750050
    bad = client.post(f"/admin/roles/approvallimit/{limit.pk}/change/",
                      {"role": "team_lead", "action": "refund_approve", "currency": "USD", "limit_value": "1.234"})
    assert bad.status_code == 200 and "too many decimal places" in bad.content.decode()

    threshold = DualApprovalThreshold.objects.get(currency="USD")
    client.post(f"/admin/roles/dualapprovalthreshold/{threshold.pk}/change/",
                {"currency": "USD", "threshold": "2000"})
    threshold.refresh_from_db()
    assert threshold.threshold_minor == 200000
