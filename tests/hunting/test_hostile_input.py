"""Hostile values at every list, filter, API write and page form: never a 500, a 400 (or a form error), nothing written.

The values are the ones an adversarial run against the demo found answering 500: Unicode digits that
pass ``str.isdigit()``, page numbers and ids beyond 64 bits, years 0 and 10000, offsets beyond ±15:59,
``9999-12-31T23:59:59-12:00`` (year 10000 once in UTC), NUL bytes, 10,000-deep JSON, amounts beyond 64 bits.
"""

from __future__ import annotations

import json

import pytest

from backoffice.api.views import JournalFilter
from backoffice.cases.registry import case_types
from backoffice.webhooks.models import WebhookDelivery
from disputes.filters import DisputeFilter
from invoices.filters import CustomerFilter, ExtensionFilter, InvoiceFilter, PaymentFilter
from refunds.filters import RefundFilter

from .conftest import row_counts

pytestmark = pytest.mark.django_db

BIG = str(2**64)
NUMBERS = ["²", "٣", "9" * 30, BIG, "999999999999999999", "-1", "12.0", "a\x00"]
DATES = ["0000-01-01", "0001-01-01T00:30:00+01:00", "10000-01-01T00:00:00Z", "9999-12-31T23:59:59-12:00",
         "2026-01-01T00:00:00+16:00", "2026-01-01T00:00:00+99:00", "٢٠٢٦-01-01T00:00:00Z", "2026-13-45"]
TEXT = ["a\x00b", "²", BIG, "9999-12-31T23:59:59-12:00", "x" * 5000]
NUMBER_PARAMS = {"page", "page_size", "open_page", "skip", "invoices", "payments", "refunds", "disputes",
                 "extensions", "payment", "invoice", "days"}
DATE_PARAMS = {"since", "until"}
DEEP = "[" * 10_000 + "]" * 10_000
NESTED = '{"a":' * 10_000 + "1" + "}" * 10_000

API_LISTS = {
    "/api/v1/disputes/": DisputeFilter, "/api/v1/refunds/": RefundFilter, "/api/v1/extensions/": ExtensionFilter,
    "/api/v1/invoices/": InvoiceFilter, "/api/v1/payments/": PaymentFilter, "/api/v1/customers/": CustomerFilter,
    "/api/v1/audit/transitions/": JournalFilter,
}
PAGING = ["page", "page_size", "cursor", "ordering"]
AUDIT = ["kind", "since", "until", "case_type", "actor", "transition", "source", "target", "q", "page", "cursor"]


def kind_of(filterset, name: str) -> str:
    """``number`` / ``date`` when every hostile value of that kind must be refused, else ``any``."""
    if name in ("page", "page_size"):
        return "number"
    if name in ("due_within", "days_min", "days_max", "amount_from", "amount_to"):
        return "number-like"
    field = filterset.base_filters[name].field_class.__name__ if name in filterset.base_filters else ""
    if "Id" in field or "AmountMinor" in field:
        return "number"
    if "Date" in field:
        return "date"
    return "any"


def must_refuse(kind: str, value: str) -> bool:
    """Values no number / date parameter may accept (a few are legitimate: "-1", "1999-12-31" …)."""
    if "\x00" in value:
        return True
    if kind == "number":
        return value not in ("999999999999999999",)  # a valid id (of nothing); a page size is capped at 100
    if kind == "date":
        return True
    return False


def values_for(name: str, filterset=None) -> list[str]:
    kind = kind_of(filterset, name) if filterset is not None else (
        "number" if name in NUMBER_PARAMS else "date" if name in DATE_PARAMS else "any")
    return {"number": NUMBERS, "date": DATES}.get(kind, TEXT + NUMBERS[:4])


def assert_no_500(failures: list[str]):
    assert not failures, f"{len(failures)} hostile requests were not refused cleanly:\n" + "\n".join(failures[:40])


def get(client, url, params):
    return client.get(url, params)


# ---------------------------------------------------------------- lists and filters (API)


@pytest.mark.parametrize("url", list(API_LISTS))
def test_every_api_list_filter_refuses_hostile_values_with_400(url, api, lead, auditor, world):
    client = api(auditor if "audit" in url else lead)
    filterset = API_LISTS[url]
    failures = []
    for name in [*filterset.base_filters, *PAGING]:
        kind = kind_of(filterset, name)
        for value in {"number": NUMBERS, "date": DATES}.get(kind, TEXT + NUMBERS[:4]):
            response = client.get(url, {name: value})
            expected = {400} if must_refuse(kind, value) else {200, 400}
            if response.status_code not in expected:
                failures.append(f"GET {url}?{name}={value!r} → {response.status_code} (wanted {expected})")
            elif response.status_code == 400 and not {"detail", "code"} <= set(response.json()):
                failures.append(f"GET {url}?{name}={value!r} → 400 without detail/code: {response.content[:200]}")
    assert_no_500(failures)


def test_ids_beyond_64_bits_in_api_paths_are_404(api, auditor, world):
    client = api(auditor)
    failures = []
    for path in ("disputes", "refunds", "extensions", "invoices", "payments", "customers"):
        for pk in (BIG, "9" * 30, "٣", "0"):
            response = client.get(f"/api/v1/{path}/{pk}/")
            if response.status_code != 404:
                failures.append(f"GET /api/v1/{path}/{pk}/ → {response.status_code} (wanted 404)")
        response = client.get(f"/api/v1/{path}/{BIG}/history/" if path in ("disputes", "refunds", "extensions")
                              else f"/api/v1/{path}/{BIG}/")
        if response.status_code != 404:
            failures.append(f"GET /api/v1/{path}/{BIG}/history/ → {response.status_code}")
    assert_no_500(failures)


# ---------------------------------------------------------------- lists, filters and boxes (pages)


def test_every_queue_page_filter_and_page_parameter_answers_without_a_500(client, lead, world):
    client.force_login(lead)
    failures = []
    for spec in case_types():
        filterset = spec.filterset_class
        for name in [*filterset.base_filters, "cursor", "skip", "sort", "page"]:
            for value in values_for(name, filterset if name in filterset.base_filters else None):
                response = client.get("/queues/all/", {"type": spec.key, name: value})
                if response.status_code >= 500 or ("\x00" in value and response.status_code != 400):
                    failures.append(f"GET /queues/all/?type={spec.key}&{name}={value!r} → {response.status_code}")
    assert_no_500(failures)


@pytest.mark.parametrize("url, params", [
    ("/audit/", AUDIT), ("/audit/export.csv", AUDIT), ("/search/", ["q", "all"]),
    ("/notifications/", ["page", "unread"]),
    ("/webhooks/", ["page", "open_page", "psp", "verdict"]), ("/refunds/needs-attention/", ["page"]),
    ("/dashboard/", ["days", "since", "until", "type", "queue"]), ("/extensions/", ["page", "state"]),
    ("/disputes/", ["page", "state"]), ("/refunds/new/", ["payment"]), ("/extensions/new/", ["invoice", "number"]),
    ("/disputes/new/", ["payment"]),
])
def test_page_query_parameters_answer_without_a_500(url, params, client, lead, superuser_lead, world):
    client.force_login(superuser_lead if url.startswith("/webhooks") else lead)
    failures = []
    for name in params:
        for value in values_for(name):
            response = client.get(url, {name: value})
            if response.status_code >= 500 or ("\x00" in value and response.status_code != 400):
                failures.append(f"GET {url}?{name}={value!r} → {response.status_code}")
    assert_no_500(failures)


def test_ledger_pages_paging_and_ids_beyond_64_bits_in_page_paths(client, lead, world):
    client.force_login(lead)
    failures = []
    customer = world.invoice.customer_id
    for name in ("invoices", "payments", "refunds", "disputes", "extensions"):
        for value in NUMBERS:
            response = client.get(f"/customers/{customer}/", {name: value})
            if response.status_code not in (200, 400):
                failures.append(f"/customers/{customer}/?{name}={value!r} → {response.status_code}")
    for path in ("disputes", "refunds", "extensions", "customers", "invoices", "payments", "webhooks/deliveries",
                 "audit/cases/disputes"):
        response = client.get(f"/{path}/{BIG}/")
        if response.status_code != 404:
            failures.append(f"GET /{path}/{BIG}/ → {response.status_code} (wanted 404)")
    assert_no_500(failures)


# ---------------------------------------------------------------- writes through the API: 400, nothing written


def api_writes(world):
    dispute, inquiry, refund, extension = world.dispute, world.inquiry, world.refund, world.extension
    create_dispute = {"payment": str(world.payment.pk), "amount_minor": 500, "currency": world.payment.currency,
                      "reason_code": "13.1", "psp_dispute_id": "dp_hunt_1"}
    create_refund = {"payment": world.payment.pk, "amount_minor": 500, "reason": "goodwill"}
    create_extension = {"invoice": world.invoice.pk, "new_due_date": "2099-01-01", "reason": "Customer asked"}
    for value in NUMBERS:
        yield "/api/v1/disputes/", {**create_dispute, "amount_minor": value}
        yield "/api/v1/refunds/", {**create_refund, "payment": value}
        yield "/api/v1/refunds/", {**create_refund, "amount_minor": value}
        yield "/api/v1/extensions/", {**create_extension, "invoice": value}
        for type_key, case in (("disputes", dispute), ("refunds", refund), ("extensions", extension)):
            yield f"/api/v1/{type_key}/{case.pk}/assign/", {"assignee": value}
    for big in (2**64, -(2**64), 10**30, 12.0, 1e300, True):
        yield "/api/v1/disputes/", {**create_dispute, "amount_minor": big}
        yield "/api/v1/refunds/", {**create_refund, "amount_minor": big}
        yield "/api/v1/refunds/", {**create_refund, "payment": big}
        yield f"/api/v1/disputes/{dispute.pk}/assign/", {"assignee": big}
    for value in DATES:
        if value in ("1999-12-31",):
            continue
        yield "/api/v1/disputes/", {**create_dispute, "due_at": value}
        yield "/api/v1/extensions/", {**create_extension, "new_due_date": value}
        yield f"/api/v1/disputes/{inquiry.pk}/transitions/open_chargeback/", {"due_at": value, "reason": "x"}
        yield f"/api/v1/disputes/{world.lost.pk}/transitions/reopen/", {"due_at": value, "reason": "x"}
    for value in ("a\x00b", "\x00"):
        yield "/api/v1/disputes/", {**create_dispute, "psp_dispute_id": value}
        yield "/api/v1/refunds/", {**create_refund, "note": value}
        yield "/api/v1/extensions/", {**create_extension, "reason": value}
        for type_key, case in (("disputes", dispute), ("refunds", refund), ("extensions", extension)):
            yield f"/api/v1/{type_key}/{case.pk}/comments/", {"body": value}
            yield f"/api/v1/{type_key}/{case.pk}/transitions/approve/", {"reason": value}
        yield f"/api/v1/disputes/{dispute.pk}/evidence/", {"kind": "usage_logs", "text": value}


def test_api_writes_with_hostile_values_answer_400_and_write_nothing(api, lead, world):
    client = api(lead)
    before = row_counts()
    failures = []
    for url, body in api_writes(world):
        response = client.post(url, body, format="json")
        # 409 only for a well-formed 64-bit amount beyond what the payment has left (refund_exceeds_refundable)
        allowed = {400, 409} if "999999999999999999" in body.values() else {400}
        if response.status_code not in allowed or not {"detail", "code"} <= set(response.json()):
            failures.append(f"POST {url} {body!r:.160} → {response.status_code} {response.content[:160]!r}")
    assert_no_500(failures)
    assert row_counts() == before


def test_deeply_nested_json_bodies_are_a_400_everywhere(api, lead, world):
    client = api(lead)
    before = row_counts()
    failures = []
    for url in ("/api/v1/disputes/", "/api/v1/refunds/", "/api/v1/extensions/", "/api/v1/auth/token/",
                f"/api/v1/disputes/{world.dispute.pk}/transitions/submit_evidence/",
                f"/api/v1/refunds/{world.refund.pk}/comments/", f"/api/v1/refunds/{world.refund.pk}/assign/"):
        for body in (DEEP, NESTED, '{"reason": "' + "\\ud800" + '"}'):
            response = client.post(url, body, content_type="application/json")
            if response.status_code != 400:
                failures.append(f"POST {url} (nested JSON) → {response.status_code} {response.content[:120]!r}")
    assert_no_500(failures)
    assert row_counts() == before


@pytest.mark.parametrize("psp", ["adyen", "stripe"])
def test_a_webhook_with_10k_deep_json_is_stored_and_answered_400(psp, client, world):
    before = WebhookDelivery.objects.count()
    for body in (DEEP, NESTED, '{"notificationItems": ' + DEEP + "}"):
        response = client.post(f"/webhooks/{psp}/", body, content_type="application/json",
                               HTTP_STRIPE_SIGNATURE="t=1,v1=00")
        assert response.status_code == 400, response.content[:200]
        assert set(response.json()) >= {"detail", "code"}
    stored = WebhookDelivery.objects.order_by("-pk")[:3]
    assert WebhookDelivery.objects.count() == before + 3
    if psp == "adyen":
        assert {d.verdict for d in stored} == {"malformed"}


# ---------------------------------------------------------------- writes through pages: refused, nothing written


def page_writes(world):
    dispute, inquiry, refund, extension = world.dispute, world.inquiry, world.refund, world.extension
    entry = {"payment": str(world.payment.pk), "amount": "5.00", "currency": world.payment.currency,
             "network": "visa", "psp": "stripe", "psp_dispute_id": "dp_hunt_2", "stage": "chargeback"}
    for value in NUMBERS:
        yield "/refunds/new/", {"payment": value, "amount": "1.00", "reason": "goodwill", "note": "x"}
        if value != "12.0":  # pages take major units: 12.0 is a fine amount there
            yield "/refunds/new/", {"payment": str(world.payment.pk), "amount": value, "reason": "goodwill"}
        yield f"/extensions/new/?invoice={world.invoice.pk}", {"invoice": value, "new_due_date": "2099-01-01",
                                                                "reason": "x"}
        yield "/disputes/new/", {**entry, "payment": value}
        if value != "12.0":
            yield "/disputes/new/", {**entry, "amount": value}
        yield "/queues/all/bulk/", {"type": "disputes", "action": "claim", "ids": [value]}
        yield "/queues/all/bulk/", {"type": "disputes", "action": "assign", "ids": [dispute.pk], "assignee": value}
        yield "/notifications/read/", {"ids": [value]}
        for type_key, case in (("disputes", dispute), ("refunds", refund), ("extensions", extension)):
            yield f"/cases/{type_key}/{case.pk}/assign/", {"assignee": value}
    for value in DATES:
        if value == "1999-12-31":
            continue
        yield "/disputes/new/", {**entry, "due_at": value}
        yield f"/extensions/new/?invoice={world.invoice.pk}", {"new_due_date": value, "reason": "Customer asked"}
        yield f"/cases/disputes/{inquiry.pk}/transition/open_chargeback/", {"due_at": value, "reason": "x"}
        yield f"/cases/disputes/{world.lost.pk}/transition/reopen/", {"due_at": value, "reason": "x"}
    for value in ("a\x00b", "\x00"):
        for type_key, case in (("disputes", dispute), ("refunds", refund), ("extensions", extension)):
            yield f"/cases/{type_key}/{case.pk}/comment/", {"body": value}
            yield f"/cases/{type_key}/{case.pk}/transition/approve/", {"reason": value}
        yield f"/disputes/{dispute.pk}/evidence/", {"kind": "usage_logs", "text": value}
        yield "/profile/", {"locale": value, "time_zone": value}
        yield "/views/", {"name": value, "queue": "all", "query": value}
        yield "/accounts/login/", {"username": value, "password": value}


def refused_on_the_page(response) -> bool:
    """A 400 page, a form shown again with its error (200/400/404 with the form), or a redirect carrying a message."""
    if response.status_code in (400, 404, 403):
        return True
    if response.status_code == 302:
        return True  # the views redirect with an error message (asserted below: nothing was written)
    return response.status_code == 200 and b"error" in response.content


def test_page_forms_with_hostile_values_are_refused_and_write_nothing(client, lead, world):
    client.force_login(lead)
    before = row_counts()
    failures = []
    for url, data in page_writes(world):
        response = client.post(url, data)
        if response.status_code >= 500 or not refused_on_the_page(response):
            failures.append(f"POST {url} {data!r:.160} → {response.status_code}")
    assert_no_500(failures)
    assert row_counts() == before


def test_nul_in_a_query_string_or_form_is_a_400_before_any_view(client, lead, world):
    client.force_login(lead)
    for method, url in (("get", "/search/?q=a%00b"), ("get", "/api/v1/disputes/?q=%00"),
                        ("post", f"/cases/disputes/{world.dispute.pk}/comment/")):
        response = getattr(client, method)(url, {"body": "a\x00b"} if method == "post" else None)
        assert response.status_code == 400
    api_response = client.get("/api/v1/refunds/", {"q": "\x00"})
    assert api_response.json()["code"] == "invalid_text"


def test_the_refusal_names_the_field_and_says_why(api, lead, world):
    response = api(lead).post(f"/api/v1/disputes/{world.inquiry.pk}/transitions/open_chargeback/",
                              {"due_at": "9999-12-31T23:59:59-12:00", "reason": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_due_at"
    assert "2100-01-01" in response.json()["detail"]
    world.inquiry.refresh_from_db()
    assert world.inquiry.state == "inquiry"


def test_json_bodies_round_trip_unchanged_when_valid(api, lead, world):
    """The bounded parser is a parser: an ordinary body still works (a comment is added)."""
    response = api(lead).post(f"/api/v1/disputes/{world.dispute.pk}/comments/",
                              json.dumps({"body": "Nested is fine: [[1]] {\"a\": {\"b\": 1}}"}),
                              content_type="application/json")
    assert response.status_code in (200, 201), response.content


def crafted_cursor(payload) -> str:
    import base64

    raw = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("payload", [
    DEEP, NESTED, {"o": "x", "v": [{"t": "2026-01-01T00:00:00+16:00"}, 1], "b": 0},
    {"o": "x", "v": [{"t": "9999-12-31T23:59:59-12:00"}, 2**70], "b": 0}, {"o": "x", "v": ["a\u0000", 1]},
])
def test_a_crafted_cursor_is_a_400_on_the_api_and_never_a_500_on_the_queue_page(payload, api, client, lead, world):
    cursor = crafted_cursor(payload)
    response = api(lead).get("/api/v1/disputes/", {"cursor": cursor})
    assert response.status_code == 400 and response.json()["code"] == "invalid_cursor"
    client.force_login(lead)
    assert client.get("/queues/all/", {"type": "disputes", "cursor": cursor}).status_code in (200, 400)


def test_a_cursor_with_the_right_order_but_hostile_values_is_refused(api, lead, world):
    """The order token matches (taken from a real next link); only the values are forged."""
    import base64

    first = api(lead).get("/api/v1/disputes/", {"page_size": 1}).json()
    cursor = first["next"].split("cursor=")[1].split("&")[0]
    payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    for values in ([{"t": "2026-01-01T00:00:00+16:00"}, 1], [{"t": "2026-01-01T00:00:00Z"}, 2**70],
                   [{"t": "0001-01-01T00:00:00+01:00"}, 1]):
        forged = crafted_cursor({**payload, "v": values[: len(payload["v"])] if len(payload["v"]) <= 2 else values})
        response = api(lead).get("/api/v1/disputes/", {"cursor": forged})
        assert response.status_code in (200, 400), (values, response.status_code)
