"""Queue pages at team scale: clean URLs, filters in major units and dates, counts, saved views, bulk
decisions with a result per row, landing pages per role, the reader's locale and time zone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from backoffice.money import format_money, home_symbol
from backoffice.web.models import SavedView
from backoffice.web.preferences import locale_from_accept_language
from backoffice.web.selectors import COUNTED_QUEUES, count_label, queue_count
from refunds.models import Refund
from tests.disputes.factories import DisputeFactory
from tests.invoices.factories import PaymentFactory
from tests.refunds.factories import request_refund

pytestmark = pytest.mark.django_db


def rows(html: str, attribute: str = "data-reference") -> list[str]:
    import re

    return re.findall(rf'<tr[^>]*{attribute}="([^"]+)"', html)


def test_each_role_lands_where_its_work_is(client, specialist, lead, auditor):
    for user, target in ((specialist, "/queues/due-soon/"), (lead, "/queues/approvals/"), (auditor, "/audit/")):
        client.force_login(user)
        assert client.get("/")["Location"] == target


def test_a_filter_url_with_empty_or_repeated_parameters_is_sent_to_its_clean_form(client, specialist):
    client.force_login(specialist)
    response = client.get("/queues/all/?type=refunds&state=&currency=USD&currency=USD&q=")
    assert response.status_code == 302 and response["Location"] == "/queues/all/?type=refunds&currency=USD"
    assert client.get("/queues/all/?type=refunds&currency=USD").status_code == 200


def test_amounts_are_filtered_in_major_units_of_each_currency(client, lead, specialist):
    usd = request_refund(requester=specialist, amount_minor=150050, payment=PaymentFactory(amount_minor=200000))
    small = request_refund(requester=specialist, amount_minor=99900, payment=PaymentFactory(amount_minor=200000))
    jpy = request_refund(requester=specialist, amount_minor=2000,
                         payment=PaymentFactory(currency="JPY", amount_minor=5000))  # ¥2,000
    client.force_login(lead)
    html = client.get("/queues/all/", {"type": "refunds", "amount_from": "1000"}).content.decode()
    assert set(rows(html)) == {usd.reference, jpy.reference}
    html = client.get("/queues/all/", {"type": "refunds", "amount_from": "1500.5", "currency": "usd"}).content.decode()
    assert rows(html) == [usd.reference]
    assert small.reference in client.get("/queues/all/", {"type": "refunds", "amount_to": "999"}).content.decode()


def test_due_dates_are_picked_as_days_and_include_the_whole_day(client, lead):
    day = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0) + timedelta(days=3)
    inside = DisputeFactory(due_at=day + timedelta(hours=11))
    after = DisputeFactory(due_at=day + timedelta(days=1, hours=1))
    client.force_login(lead)
    html = client.get("/queues/all/", {"type": "disputes", "due_before": day.date().isoformat()}).content.decode()
    assert 'type="date"' in html
    assert inside.reference in rows(html) and after.reference not in rows(html)
    api = client.get("/api/v1/disputes/", {"due_before": (day + timedelta(hours=12)).isoformat()}).json()
    assert inside.pk in [d["id"] for d in api["results"]]  # the API still takes ISO date-times


def test_approvals_are_sorted_by_due_date_and_amounts_within_their_currency(client, lead, specialist):
    late = request_refund(requester=specialist, amount_minor=500)
    soon = request_refund(requester=specialist, amount_minor=700)
    Refund.objects.filter(pk=late.pk).update(internal_due_at=timezone.now() + timedelta(days=5))
    Refund.objects.filter(pk=soon.pk).update(internal_due_at=timezone.now() + timedelta(hours=5))
    uzs = request_refund(requester=specialist, amount_minor=2500000,
                         payment=PaymentFactory(currency="UZS", amount_minor=9000000))
    client.force_login(lead)
    html = client.get("/queues/all/", {"type": "refunds"}).content.decode()
    assert rows(html).index(soon.reference) < rows(html).index(late.reference)
    unsorted = client.get("/queues/all/", {"type": "refunds", "sort": "amount"}).content.decode()
    assert "sorted within one currency" in unsorted  # UZS 25,000.00 never sorts among the dollars
    by_amount = rows(client.get("/queues/all/", {"type": "refunds", "currency": "USD", "sort": "-amount"})
                     .content.decode())
    assert by_amount == [soon.reference, late.reference] and uzs.reference not in by_amount


def test_a_lead_bulk_approves_and_rejects_with_a_result_for_each_row(client, lead, specialist,
                                                                     django_capture_on_commit_callbacks):
    mine = request_refund(requester=lead, amount_minor=100)  # nobody approves their own request
    others = [request_refund(requester=specialist, amount_minor=100 + i) for i in range(3)]
    client.force_login(lead)
    ids = [r.pk for r in others] + [mine.pk]

    refused = client.post("/queues/approvals/bulk/", {"type": "refunds", "action": "approve", "ids": ids})
    assert refused.status_code == 302 and Refund.objects.filter(state="pending_approval").count() == 4

    with django_capture_on_commit_callbacks(execute=True):
        client.post("/queues/approvals/bulk/", {"type": "refunds", "action": "approve", "ids": ids,
                                                "reason": "Checked against the PSP dashboard"})
    html = client.get("/queues/approvals/?type=refunds").content.decode()
    assert 'data-bulk-results' in html
    for refund in others:
        assert f'data-result="{refund.reference}" data-ok="yes"' in html
    assert f'data-result="{mine.reference}" data-ok="no"' in html and "self_approval_forbidden" in html
    assert set(Refund.objects.filter(pk__in=[r.pk for r in others]).values_list("state", flat=True)) <= {
        "approved", "processing", "succeeded", "pending_second_approval"}

    rejectable = request_refund(requester=specialist, amount_minor=4242)
    client.post("/queues/approvals/bulk/", {"type": "refunds", "action": "reject", "ids": [rejectable.pk],
                                            "reason": "Not eligible"})
    rejectable.refresh_from_db()
    assert rejectable.state == "rejected"


def test_approval_rows_show_how_many_approvals_are_needed_and_the_customers_history(client, lead, specialist):
    payment = PaymentFactory(amount_minor=900000)
    small = request_refund(requester=specialist, payment=payment, amount_minor=1000)
    large = request_refund(requester=specialist, payment=payment, amount_minor=300000)  # above the dual threshold
    client.force_login(lead)
    html = client.get("/queues/approvals/", {"type": "refunds"}).content.decode()
    small_row = html.split(f'data-reference="{small.reference}"')[1].split("</tr>")[0]
    large_row = html.split(f'data-reference="{large.reference}"')[1].split("</tr>")[0]
    assert "needs 1 approval, has 0" in small_row and "needs 2 approvals, has 0" in large_row
    assert "1 other refund in 90 days" in small_row
    assert 'data-confirm="Approve {count} selected case(s)?' in html  # approve asks first
    assert 'value="reject" class="secondary"' in html


def test_queue_counts_are_bounded_and_cached(client, specialist, monkeypatch):
    for _ in range(3):
        DisputeFactory(assignee=specialist)
    cache.clear()
    client.force_login(specialist)
    counts = client.get("/queues/counts.json").json()
    assert counts["mine"] == "3" and set(counts) == set(COUNTED_QUEUES) - {"approvals"}
    monkeypatch.setattr("backoffice.web.selectors.COUNT_LIMIT", 2)
    assert queue_count("mine", specialist) == 3  # counted up to the limit + 1, never further
    assert count_label(3) == "2+"


def test_saved_views_belong_to_their_user(client, specialist, specialist2):
    client.force_login(specialist)
    response = client.post("/views/", {"name": "KZT over 100k", "queue": "all",
                                       "query": "type=refunds&currency=KZT&currency=KZT&amount_from=100000&page=3"})
    view = SavedView.objects.get(user=specialist)
    assert view.query == "type=refunds&currency=KZT&amount_from=100000"
    assert response["Location"] == "/queues/all/?type=refunds&currency=KZT&amount_from=100000"
    assert 'data-saved-view="KZT over 100k"' in client.get("/queues/all/").content.decode()

    client.force_login(specialist2)
    assert "KZT over 100k" not in client.get("/queues/all/").content.decode()
    client.post(f"/views/{view.pk}/delete/")
    assert SavedView.objects.filter(pk=view.pk).exists()  # not theirs
    client.force_login(specialist)
    client.post(f"/views/{view.pk}/delete/")
    assert not SavedView.objects.exists()


def test_money_is_formatted_for_the_reader_with_each_currencys_symbol_and_decimals():
    assert home_symbol("KZT") == "₸" and home_symbol("AZN") == "₼" and home_symbol("UZS") == "soʻm"
    assert format_money(41124493, "KZT") == "₸411,244.93"
    assert format_money(15180000000, "UZS") == "soʻm\xa0151,800,000.00"
    assert format_money(123456, "AZN", "ru_RU") == "1\xa0234,56\xa0₼"
    assert format_money(1235, "JPY") == "¥1,235" and format_money(1234, "KWD") == "KWD1.234"
    assert locale_from_accept_language("ru-KZ,ru;q=0.9,en;q=0.8") == "ru_KZ"
    assert locale_from_accept_language("xx, de;q=0.5") == "de"
    assert locale_from_accept_language("") is None


def test_the_profile_sets_locale_and_time_zone_and_the_browser_fills_the_gaps(client, specialist):
    refund = request_refund(requester=specialist, amount_minor=41124493,
                            payment=PaymentFactory(currency="KZT", amount_minor=50000000))
    client.force_login(specialist)
    page = client.get(f"/refunds/{refund.pk}/", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9").content.decode()
    assert "411.244,93\xa0₸" in page  # from the browser's language

    bad = client.post("/profile/", {"locale": "xx_YY", "time_zone": "Mars/Olympus"})
    assert bad.status_code == 400
    assert client.post("/profile/", {"locale": "en_GB", "time_zone": "Asia/Almaty"}).status_code == 302
    client.cookies["bo_tz"] = "America/New_York"  # the profile wins over the browser
    page = client.get(f"/refunds/{refund.pk}/", HTTP_ACCEPT_LANGUAGE="de-DE").content.decode()
    assert "₸411,244.93" in page and "+0500" in page

    client.post("/profile/", {"locale": "", "time_zone": ""})
    page = client.get(f"/refunds/{refund.pk}/").content.decode()
    assert " EST<" in page or " EDT<" in page  # back to the browser's time zone
