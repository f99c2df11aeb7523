"""The API framework: token auth, error format, pagination without COUNT, history, transitions, docs."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backoffice.journal.models import JournalEntry
from tests.backoffice.factories import make_ticket


@pytest.mark.django_db
def test_token_endpoint_gives_a_token_that_authenticates(api, specialist):
    response = api().post("/api/v1/auth/token/", {"username": "spec1", "password": "pw"}, format="json")
    assert response.status_code == 200
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get("/api/v1/tickets/").status_code == 200


@pytest.mark.django_db
def test_bad_credentials_get_a_json_error_with_a_code(api, specialist):
    response = api().post("/api/v1/auth/token/", {"username": "spec1", "password": "wrong"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "Unable to log in with these credentials.", "code": "invalid_credentials"}
    missing = api().post("/api/v1/auth/token/", {"username": "spec1"}, format="json")
    assert missing.status_code == 400 and missing.json()["code"] == "invalid"
    assert "password" in missing.json()["detail"]


@pytest.mark.django_db
def test_anonymous_requests_are_refused_with_the_error_format(api):
    response = api().get("/api/v1/tickets/")
    assert response.status_code in (401, 403)
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.django_db
def test_lists_paginate_with_next_links_and_no_count_query(api, specialist):
    for i in range(7):
        make_ticket(requester=specialist, title=f"t{i}")
    client = api(specialist)
    with CaptureQueriesContext(connection) as queries:
        first = client.get("/api/v1/tickets/?page_size=3")
    body = first.json()
    assert [t["title"] for t in body["results"]] == ["t0", "t1", "t2"]
    assert "cursor=" in body["next"] and "page_size=3" in body["next"]  # DESIGN: `next` carries the cursor
    assert body["previous"] is None
    second = client.get(body["next"]).json()
    assert [t["title"] for t in second["results"]] == ["t3", "t4", "t5"]
    assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)
    last = client.get("/api/v1/tickets/?page_size=3&page=3").json()
    assert [t["title"] for t in last["results"]] == ["t6"] and last["next"] is None and last["previous"]


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["page=0", "page=abc", "page_size=-1", "page_size=x"])
def test_bad_pagination_is_a_400_not_a_500(api, specialist, query):
    response = api(specialist).get(f"/api/v1/tickets/?{query}")
    assert response.status_code == 400 and response.json()["code"] == "invalid_pagination"


@pytest.mark.django_db
def test_page_size_is_capped_at_100(api, specialist):
    from tests.testapp.models import Ticket

    Ticket.objects.bulk_create([Ticket(title=f"t{i}") for i in range(105)])
    body = api(specialist).get("/api/v1/tickets/?page_size=500").json()
    assert len(body["results"]) == 100 and body["next"]


@pytest.mark.django_db
def test_transition_through_the_api_and_its_history(api, specialist, lead):
    ticket = make_ticket(requester=specialist)
    client = api(specialist)

    ok = client.post(f"/api/v1/tickets/{ticket.pk}/transitions/start/", {"reason": "picking up"}, format="json")
    assert ok.status_code == 200 and ok.json()["state"] == "working"

    forbidden = client.post(f"/api/v1/tickets/{ticket.pk}/transitions/finish/", {}, format="json")
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "permission_denied"

    wrong_state = client.post(f"/api/v1/tickets/{ticket.pk}/transitions/start/", {}, format="json")
    assert wrong_state.status_code == 409 and wrong_state.json()["code"] == "transition_not_allowed"

    stale = api(lead).post(f"/api/v1/tickets/{ticket.pk}/transitions/cancel/", {"expected_state": "open"},
                           format="json")
    assert stale.status_code == 409 and stale.json()["code"] == "concurrent_change"

    unknown = client.post(f"/api/v1/tickets/{ticket.pk}/transitions/delete/", {}, format="json")
    assert unknown.status_code == 409 and unknown.json()["code"] == "unknown_transition"

    history = client.get(f"/api/v1/tickets/{ticket.pk}/history/").json()
    assert [(h["transition"], h["source"], h["target"], h["actor"]) for h in history] == [
        ("create", "", "open", "spec1"), ("start", "open", "working", "spec1")]
    assert history[1]["reason"] == "picking up" and history[1]["context"]["request_id"]
    assert history[1]["prev_hash"] == history[0]["hash"]


@pytest.mark.django_db
def test_missing_case_is_a_404_in_the_error_format(api, specialist):
    response = api(specialist).post("/api/v1/tickets/999999/transitions/start/", {}, format="json")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


@pytest.mark.django_db
def test_auditor_reads_everything_and_is_refused_every_write(api, auditor, specialist):
    ticket = make_ticket(requester=specialist)
    client = api(auditor)
    assert client.get(f"/api/v1/tickets/{ticket.pk}/").status_code == 200
    assert client.get(f"/api/v1/tickets/{ticket.pk}/history/").status_code == 200
    for path, data in [
        (f"/api/v1/tickets/{ticket.pk}/transitions/start/", {}),
        (f"/api/v1/tickets/{ticket.pk}/transitions/cancel/", {}),
        (f"/api/v1/tickets/{ticket.pk}/claim/", {}),
        (f"/api/v1/tickets/{ticket.pk}/assign/", {"assignee": auditor.pk}),
        (f"/api/v1/tickets/{ticket.pk}/comments/", {"body": "hello"}),
    ]:
        response = client.post(path, data, format="json")
        assert response.status_code == 403, path
        assert response.json()["code"] == "permission_denied"
    assert JournalEntry.objects.filter(case_id=ticket.pk).count() == 1


@pytest.mark.django_db
def test_audit_endpoints_for_leads_and_auditors_only(api, auditor, lead, specialist):
    ticket = make_ticket(requester=specialist)
    assert api(specialist).get("/api/v1/audit/transitions/").status_code == 403
    rows = api(auditor).get("/api/v1/audit/transitions/?case_type=ticket&actor=spec1").json()["results"]
    assert [r["case_reference"] for r in rows] == [ticket.reference]
    rows = api(auditor).get("/api/v1/audit/transitions/?case_type=ticket&actor=SPEC").json()["results"]
    assert [r["case_reference"] for r in rows] == [ticket.reference]  # any case, a prefix, as on /audit/
    assert api(auditor).get("/api/v1/audit/transitions/?case_type=ticket&actor=lead").json()["results"] == []
    assert api(lead).get("/api/v1/audit/verify/").json()["intact"] is None  # nothing has run yet
    assert api(specialist).post("/api/v1/audit/verify/").status_code == 403
    assert api(auditor).post("/api/v1/audit/verify/").status_code == 202  # runs in-process in tests
    verify = api(lead).get("/api/v1/audit/verify/").json()
    assert {k: verify[k] for k in ("intact", "rows", "rows_checked", "broken", "mode")} == {
        "intact": True, "rows": 1, "rows_checked": 1, "broken": [], "mode": "incremental"}
    assert verify["checkpoint"] == 2 and verify["checked_at"]


@pytest.mark.django_db
def test_openapi_schema_and_docs_are_served_without_a_cdn(client, specialist):
    client.force_login(specialist)
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/auth/token/" in schema.content
    docs = client.get("/api/docs/")
    html = docs.content.decode()
    assert docs.status_code == 200 and "swagger-ui" in html
    assert "cdn" not in html.lower() and "unpkg" not in html and "jsdelivr" not in html
    assert "/static/drf_spectacular_sidecar/" in html
