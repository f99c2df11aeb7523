"""The break queue, the break page and the settlement-report upload page."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from reconciliation.imports import settlement_upload
from reconciliation.models import Break, SettlementImport, SettlementUpload

from .factories import report, scenario
from .test_services import requested


def test_upload_page_imports_for_leads_and_shows_row_errors(client, lead, specialist, settings, tmp_path,
                                                            django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = tmp_path
    s = scenario("adyen")
    content = report("adyen", s.items, payout_delta_minor=123)
    client.force_login(specialist)
    assert client.get("/reconciliation/imports/").status_code == 200
    refused = client.post("/reconciliation/imports/", {"psp": "adyen", "file": SimpleUploadedFile("a.csv", content)})
    assert refused.status_code == 403 and not SettlementUpload.objects.exists()

    client.force_login(lead)
    lines = content.decode().splitlines()
    lines[3] = lines[3].replace("USD", "XXQ")
    with django_capture_on_commit_callbacks(execute=True):  # the task runs once the upload is stored
        bad = client.post("/reconciliation/imports/", {"psp": "adyen", "file": SimpleUploadedFile(
            "bad.csv", ("\n".join(lines) + "\n").encode())})
    upload = SettlementUpload.objects.get()
    assert bad.status_code == 302 and bad["Location"] == f"/reconciliation/uploads/{upload.pk}/"
    page = client.get(bad["Location"]).content.decode()
    assert upload.status == "refused" and 'data-row="4"' in page and "XXQ" in page
    assert not SettlementImport.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post("/reconciliation/imports/", {"psp": "adyen",
                                                         "file": SimpleUploadedFile("good.csv", content)})
    job = SettlementImport.objects.get()
    page = client.get(done["Location"]).content.decode()
    assert f'data-import="{job.pk}"' in page and f"{len(s.planted)} breaks opened" in page
    detail = client.get(f"/reconciliation/imports/{job.pk}/").content.decode()
    assert f"data-breaks>{len(s.planted)}<" in detail and "BRK-" in detail


def test_a_running_upload_shows_its_progress(client, lead, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    s = scenario("stripe")
    upload = settlement_upload(psp="stripe", upload=SimpleUploadedFile("r.csv", report("stripe", s.items)),
                               actor=lead)  # its task waits for the commit that never comes here
    client.force_login(lead)
    assert 'data-progress="queued"' in client.get(f"/reconciliation/uploads/{upload.pk}/").content.decode()
    from django.core.cache import cache

    cache.set(f"reconciliation:upload:{upload.pk}", {"phase": "importing", "rows": 40, "total": 80})
    SettlementUpload.objects.filter(pk=upload.pk).update(status="running")
    page = client.get(f"/reconciliation/uploads/{upload.pk}/").content.decode()
    assert 'value="50"' in page and "40 of 80 lines" in page and 'http-equiv="refresh"' in page


def test_queue_lists_breaks_with_their_filters(client, lead):
    s = scenario("stripe")
    import io

    from reconciliation.imports import settlement_import

    settlement_import(psp="stripe", binary=io.BytesIO(report("stripe", s.items, payout_delta_minor=123)),
                      file_name="r.csv", actor=lead, source="test")
    client.force_login(lead)
    page = client.get("/queues/all/", {"type": "breaks"}).content.decode()
    assert page.count('data-kind="') == len(s.planted)
    only = client.get("/queues/all/", {"type": "breaks", "kind": "fee_out_of_band"}).content.decode()
    assert only.count('data-kind="') == 1 and 'data-kind="fee_out_of_band"' in only
    assert client.get("/queues/all/", {"type": "breaks", "age": "8-30"}).content.decode().count('data-kind="') == 0
    assert client.get("/queues/all/", {"type": "breaks", "psp": "adyen"}).content.decode().count('data-kind="') == 0


def test_approvals_queue_and_break_page_buttons(client, specialist, lead):
    brk = requested(by=specialist, amount_minor=10_000)
    client.force_login(lead)
    queue = client.get("/queues/approvals/", {"type": "breaks"}).content.decode()
    assert brk.reference in queue
    page = client.get(f"/reconciliation/breaks/{brk.pk}/").content.decode()
    assert 'data-transition="approve_write_off"' in page
    client.force_login(specialist)
    assert brk.reference not in client.get("/queues/approvals/", {"type": "breaks"}).content.decode()
    own = client.get(f"/reconciliation/breaks/{brk.pk}/").content.decode()
    assert 'data-transition="approve_write_off"' not in own and "data-write-off-refusal" in own

    client.force_login(lead)
    response = client.post(f"/cases/breaks/{brk.pk}/transition/approve_write_off/",
                           {"reason": "ok", "expected_state": "write_off_requested"})
    assert response.status_code == 302
    assert Break.objects.get(pk=brk.pk).state == "written_off"
