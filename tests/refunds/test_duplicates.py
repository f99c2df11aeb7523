"""No accidental duplicate refunds: the form's one-time token, the 24-hour same-amount guard, the queue's flag."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from backoffice.errors import Conflict
from refunds.models import Refund
from refunds.services import refund_request
from tests.invoices.factories import PaymentFactory

from .factories import request_refund

pytestmark = pytest.mark.django_db


def test_the_same_amount_on_the_same_payment_within_24_hours_needs_a_confirmation(specialist, specialist2):
    payment = PaymentFactory(amount_minor=10000)
    first = request_refund(requester=specialist, payment=payment, amount_minor=2500)

    with pytest.raises(Conflict) as err:
        request_refund(requester=specialist2, payment=payment, amount_minor=2500)
    assert err.value.code == "possible_duplicate" and err.value.extra["duplicates"] == [first.reference]
    assert Refund.objects.count() == 1

    other_amount = request_refund(requester=specialist2, payment=payment, amount_minor=2400)
    second = request_refund(requester=specialist2, payment=payment, amount_minor=2500, confirm_duplicate=True)
    assert {other_amount.pk, second.pk} <= set(Refund.objects.values_list("pk", flat=True))

    Refund.objects.filter(pk__in=[first.pk, second.pk]).update(created_at=timezone.now() - timedelta(hours=25))
    assert request_refund(requester=specialist, payment=payment, amount_minor=2500).pk  # a day later: no question


def test_the_api_answers_409_possible_duplicate_unless_confirmed(api, specialist):
    payment = PaymentFactory(amount_minor=10000)
    client = api(specialist)
    body = {"payment": payment.pk, "amount_minor": 1500, "reason": "goodwill"}
    assert client.post("/api/v1/refunds/", body, format="json").status_code == 201

    again = client.post("/api/v1/refunds/", body, format="json")
    assert again.status_code == 409 and again.json()["code"] == "possible_duplicate"
    confirmed = client.post("/api/v1/refunds/", {**body, "confirm_duplicate": True}, format="json")
    assert confirmed.status_code == 201
    assert Refund.objects.filter(payment=payment).count() == 2


def test_resubmitting_the_form_is_the_same_request_and_a_fresh_form_asks_first(client, specialist):
    payment = PaymentFactory(amount_minor=10000)
    client.force_login(specialist)
    form = client.get("/refunds/new/", {"payment": payment.pk}).content.decode()
    token = form.split('name="idempotency_key" value="')[1].split('"')[0]
    data = {"payment": payment.pk, "amount": "25.00", "reason": "billing_error", "idempotency_key": token}

    first = client.post(f"/refunds/new/?payment={payment.pk}", data)
    refund = Refund.objects.get()
    assert first.status_code == 302 and first["Location"] == f"/refunds/{refund.pk}/"

    again = client.post(f"/refunds/new/?payment={payment.pk}", data, follow=True)  # Back, then submit again
    assert Refund.objects.count() == 1
    assert "no second refund was created" in again.content.decode()

    fresh = client.post(f"/refunds/new/?payment={payment.pk}", {**data, "idempotency_key": "another-form"})
    html = fresh.content.decode()
    assert fresh.status_code == 200 and 'data-warning="possible_duplicate"' in html and refund.reference in html
    assert 'name="confirm_duplicate"' in html and Refund.objects.count() == 1

    confirmed = client.post(f"/refunds/new/?payment={payment.pk}",
                            {**data, "idempotency_key": "another-form", "confirm_duplicate": "yes"})
    assert confirmed.status_code == 302 and Refund.objects.count() == 2


def test_the_approvals_queue_and_the_refund_page_mark_possible_duplicates(client, specialist, lead):
    payment = PaymentFactory(amount_minor=10000)
    first = request_refund(requester=specialist, payment=payment, amount_minor=3000)
    second = refund_request(payment=payment, requester=specialist, amount_minor=3000, reason="goodwill",
                            confirm_duplicate=True)
    single = request_refund(requester=specialist, amount_minor=3000)
    client.force_login(lead)

    html = client.get("/queues/approvals/", {"type": "refunds"}).content.decode()
    for refund in (first, second):
        row = html.split(f'data-reference="{refund.reference}"')[1].split("</tr>")[0]
        assert 'data-flag="possible_duplicate"' in row
    single_row = html.split(f'data-reference="{single.reference}"')[1].split("</tr>")[0]
    assert "possible_duplicate" not in single_row

    page = client.get(f"/refunds/{second.pk}/").content.decode()
    assert 'data-flag="possible_duplicate"' in page and first.reference in page
