"""The breaks and settlement-imports endpoints (contract fields, filters, errors)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from reconciliation.models import Break, SettlementImport

from .factories import report, scenario


def upload(client, psp: str, content: bytes, name: str = "report.csv"):
    return client.post("/api/v1/settlement-imports/", {"psp": psp, "file": SimpleUploadedFile(name, content)},
                       format="multipart")


@pytest.mark.parametrize("psp", ["stripe", "adyen"])
def test_a_lead_imports_and_gets_the_counts(api, lead, psp):
    s = scenario(psp)
    response = upload(api(lead), psp, report(psp, s.items, payout_delta_minor=123))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["id"] == SettlementImport.objects.get().pk
    assert (body["line_count"], body["matched_count"], body["break_count"]) == (len(s.items) + 2, 4, len(s.planted))


def test_refusals_are_clear_and_write_nothing(api, lead, specialist):
    s = scenario("stripe")
    content = report("stripe", s.items)
    assert upload(api(specialist), "stripe", content).status_code == 403
    bad = upload(api(lead), "stripe", content.replace(b"100.00", b"1OO.00", 1))
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_file" and bad.json()["errors"][0]["row"] == 2
    assert upload(api(lead), "paypal", content).json()["code"] == "invalid_psp"
    assert not SettlementImport.objects.exists()
    assert upload(api(lead), "stripe", content).status_code == 201
    again = upload(api(lead), "stripe", content)
    assert again.status_code == 409 and again.json()["code"] == "already_imported"


def test_breaks_list_has_the_contract_fields_and_filters(api, lead, auditor):
    s = scenario("stripe")
    upload(api(lead), "stripe", report("stripe", s.items, payout_delta_minor=123))
    client = api(auditor)
    rows = client.get("/api/v1/breaks/").json()["results"]
    assert len(rows) == len(s.planted)
    for field in ("reference", "kind", "psp", "psp_reference", "amount_minor", "currency", "state", "age_days"):
        assert field in rows[0]
    dup = client.get("/api/v1/breaks/", {"kind": "duplicate"}).json()["results"]
    assert [(r["kind"], r["amount_minor"], r["psp_reference"]) for r in dup] == [
        ("duplicate", 10_000, s.payments[0].psp_reference)]
    by_ref = client.get("/api/v1/breaks/", {"q": s.unsettled.psp_reference}).json()["results"]
    assert [r["kind"] for r in by_ref] == ["not_settled"]
    assert client.get("/api/v1/breaks/", {"state": "resolved"}).json()["results"] == []
    assert len(client.get("/api/v1/breaks/", {"age": "0-2"}).json()["results"]) == len(s.planted)
    assert client.get("/api/v1/breaks/", {"age": "30+"}).json()["results"] == []


def test_transitions_and_history_through_the_api(api, specialist, lead):
    s = scenario("stripe")
    upload(api(lead), "stripe", report("stripe", s.items))
    brk = Break.objects.get(kind="amount_mismatch")
    client = api(specialist)
    assert client.post(f"/api/v1/breaks/{brk.pk}/transitions/investigate/", {}).json()["state"] == "investigating"
    missing = client.post(f"/api/v1/breaks/{brk.pk}/transitions/resolve/", {"reason": "x"})
    assert missing.status_code == 400 and missing.json()["code"] == "invalid_resolution"
    asked = client.post(f"/api/v1/breaks/{brk.pk}/transitions/request_write_off/", {"reason": "1.00 off"})
    assert asked.json()["state"] == "write_off_requested"
    own = client.post(f"/api/v1/breaks/{brk.pk}/transitions/approve_write_off/", {"reason": "ok"})
    assert own.status_code == 403 and own.json()["code"] == "self_approval_forbidden"
    done = api(lead).post(f"/api/v1/breaks/{brk.pk}/transitions/approve_write_off/", {"reason": "ok"})
    assert done.status_code == 200 and done.json()["state"] == "written_off"
    history = client.get(f"/api/v1/breaks/{brk.pk}/history/").json()
    assert [h["transition"] for h in history] == ["create", "investigate", "request_write_off", "approve_write_off"]
    system = client.post(f"/api/v1/breaks/{brk.pk}/transitions/auto_resolve/", {})
    assert system.status_code in (403, 409)


def test_breaks_are_claimed_assigned_and_commented_like_any_case(api, specialist, specialist2, lead):
    from reconciliation.services import break_open

    brk = break_open(kind="missing_in_ledger", psp="adyen", psp_reference="PCLAIM0000000001", amount_minor=4_200,
                     currency="EUR", detail="planted")
    claimed = api(specialist).post(f"/api/v1/breaks/{brk.pk}/claim/")
    assert claimed.status_code == 200 and claimed.json()["assignee"]["username"] == specialist.username
    moved = api(lead).post(f"/api/v1/breaks/{brk.pk}/assign/", {"assignee": specialist2.pk, "reason": "rota"})
    assert moved.json()["assignee"]["username"] == specialist2.username
    comment = api(specialist2).post(f"/api/v1/breaks/{brk.pk}/comments/", {"body": "Asked Adyen support"})
    assert comment.status_code == 201
    mine = api(specialist2).get("/api/v1/breaks/", {"assignee": specialist2.pk}).json()["results"]
    assert [b["reference"] for b in mine] == [brk.reference]
