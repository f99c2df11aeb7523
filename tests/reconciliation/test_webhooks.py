"""Settlement reports announced by webhook: Adyen REPORT_AVAILABLE and Stripe reporting.report_run.succeeded.

The notifications are signed as the PSPs sign them and posted to the intake's URLs; the report file is
served by a local HTTP server standing in for Adyen's report download / Stripe's files host.
"""

from __future__ import annotations

import base64
import itertools
import time

import pytest

from backoffice.webhooks.models import WebhookEvent
from reconciliation.models import Break, SettlementImport, SettlementLine
from tests.fakepsp import Answer, FakeService
from tests.webhooks.psp import (
    adyen_body,
    adyen_item,
    configure_secrets,
    stripe_body,
    stripe_event,
    stripe_signature,
)

from .factories import report, scenario

ADYEN_REPORT_KEY = "AQE_report_key_test"
STRIPE_KEY = "sk_test_reports"
_n = itertools.count(1)


class FakeReportHost(FakeService):
    """Serves ``files`` (path → bytes) to a GET carrying the expected credentials; records every request."""

    def __init__(self, *, api_key: str = "", basic: tuple[str, str] | None = None) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[dict] = []
        self.api_key, self.basic = api_key, basic

    def serve(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        if method != "GET":
            return Answer(405, b"Method not allowed", "text/plain")
        self.requests.append({"path": path, "headers": headers})
        return Answer(*self._answer(path, headers), "text/csv")

    def _answer(self, path: str, headers: dict) -> tuple[int, bytes]:
        authorized = False
        if self.api_key and headers.get("x-api-key") == self.api_key:
            authorized = True
        if self.basic:
            expected = "Basic " + base64.b64encode(":".join(self.basic).encode()).decode()
            authorized = authorized or headers.get("authorization") == expected
        if not authorized:
            return 401, b"Unauthorized"
        if path not in self.files:
            return 404, b"Not found"
        return 200, self.files[path]


@pytest.fixture(autouse=True)
def _webhook_secrets(settings):
    configure_secrets(settings)


@pytest.fixture
def adyen_host(settings):
    with FakeReportHost(api_key=ADYEN_REPORT_KEY) as fake:
        settings.ADYEN_API_BASE = fake.url
        settings.ADYEN_REPORT_API_KEY = ADYEN_REPORT_KEY
        settings.ADYEN_REPORT_USERNAME = settings.ADYEN_REPORT_PASSWORD = ""
        settings.ADYEN_TIMEOUT_SECONDS = 5
        yield fake


@pytest.fixture
def stripe_host(settings):
    with FakeReportHost(basic=(STRIPE_KEY, "")) as fake:
        settings.STRIPE_API_BASE = fake.url
        settings.STRIPE_API_KEY = STRIPE_KEY
        settings.STRIPE_TIMEOUT_SECONDS = 5
        yield fake


# ---------------------------------------------------------------- helpers


def report_available(file_name: str, url: str, *, event_date: str = "2026-11-20T10:15:30+01:00",
                     success: str = "true") -> dict:
    return adyen_item(event_code="REPORT_AVAILABLE", psp_reference=file_name, original_reference="", value=0,
                      merchant_reference="", reason=url, event_date=event_date, success=success)


def send_adyen(client, *items):
    return client.post("/webhooks/adyen/", data=adyen_body(*items), content_type="application/json")


def send_stripe(client, event):
    body = stripe_body(event)
    return client.post("/webhooks/stripe/", data=body, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=stripe_signature(body))


def report_run(url: str, *, report_type: str = "balance_change_from_activity.itemized.3") -> dict:
    n = next(_n)
    now = int(time.time())
    return {
        "id": f"frr_test{n:08d}", "object": "reporting.report_run", "created": now - 120, "error": None,
        "livemode": False, "parameters": {"interval_start": now - 86400 * 8, "interval_end": now - 86400 * 7},
        "report_type": report_type, "status": "succeeded", "succeeded_at": now - 5,
        "result": {"id": f"file_test{n:08d}", "object": "file", "created": now - 5, "expires_at": now + 86400,
                   "filename": f"frr_test{n:08d}.csv", "purpose": "finance_report_run", "size": 0,
                   "title": f"FinanceReportRun frr_test{n:08d}", "type": "csv", "url": url},
    }


def event_row(event_type: str) -> WebhookEvent:
    return WebhookEvent.objects.get(event_type=event_type)


def adyen_file(fake, s, batch: str) -> tuple[str, str]:
    name = f"settlement_detail_report_batch_{batch}.csv"
    path = f"/reports/download/MerchantAccount/BackofficeECOM/{name}"
    fake.files[path] = report("adyen", s.items, batch=batch)
    return name, fake.url + path


# ---------------------------------------------------------------- Adyen


@pytest.mark.django_db
def test_adyen_settlement_report_is_downloaded_with_the_report_key_and_imported(client, adyen_host):
    s = scenario("adyen")
    name, url = adyen_file(adyen_host, s, "41")

    response = send_adyen(client, report_available(name, url))

    assert response.status_code == 200 and response.content == b"[accepted]"
    job = SettlementImport.objects.get()
    assert (job.psp, job.file_name, job.source, job.batch_id) == ("adyen", name, "webhook", "41")
    assert job.line_count == len(s.items) + 2  # and the two payouts (USD, EUR)
    assert job.matched_count == 4
    assert sorted(Break.objects.values_list("kind", "amount_minor")) == sorted(
        k for k in s.planted if k[0] != "payout_mismatch")
    row = event_row("REPORT_AVAILABLE")
    assert row.status == "applied" and f"settlement import #{job.pk}" in row.detail
    assert adyen_host.requests[0]["headers"]["x-api-key"] == ADYEN_REPORT_KEY


@pytest.mark.django_db
def test_basic_auth_report_user_is_used_when_configured(client, settings):
    with FakeReportHost(basic=("report_123@Company.Backoffice", "s3cret")) as fake:
        settings.ADYEN_API_BASE = fake.url
        settings.ADYEN_REPORT_USERNAME, settings.ADYEN_REPORT_PASSWORD = "report_123@Company.Backoffice", "s3cret"
        settings.ADYEN_REPORT_API_KEY = settings.ADYEN_API_KEY = ""
        name, url = adyen_file(fake, scenario("adyen"), "42")

        send_adyen(client, report_available(name, url))

        assert SettlementImport.objects.get().file_name == name
        assert fake.requests[0]["headers"]["authorization"].startswith("Basic ")


@pytest.mark.django_db
def test_the_same_notification_twice_imports_once(client, adyen_host):
    name, url = adyen_file(adyen_host, scenario("adyen"), "43")
    item = report_available(name, url)

    send_adyen(client, item)
    lines = SettlementLine.objects.count()
    again = send_adyen(client, item)
    # Adyen generated the report notification again (a new event date): the file is already imported.
    other = send_adyen(client, report_available(name, url, event_date="2026-11-21T09:00:00+01:00"))

    assert again.status_code == other.status_code == 200
    assert SettlementImport.objects.count() == 1 and SettlementLine.objects.count() == lines
    rows = list(WebhookEvent.objects.order_by("pk").values_list("status", "deliveries_seen", "detail"))
    assert [r[:2] for r in rows] == [("applied", 2), ("ignored", 1)]
    assert "already imported" in rows[1][2]


@pytest.mark.django_db
def test_a_bad_file_imports_nothing_and_the_inbox_says_which_row(client, adyen_host):
    name, url = adyen_file(adyen_host, scenario("adyen"), "44")
    path = url.removeprefix(adyen_host.url)
    lines = adyen_host.files[path].decode().splitlines()
    lines[3] = lines[3].replace(",USD,", ",U$D,", 1)
    adyen_host.files[path] = ("\n".join(lines) + "\n").encode()

    response = send_adyen(client, report_available(name, url))

    assert response.status_code == 200  # stored and answered: Adyen does not resend it forever
    assert not SettlementImport.objects.exists() and not Break.objects.exists()
    row = event_row("REPORT_AVAILABLE")
    assert row.status == "failed"
    assert row.detail.startswith("invalid_file:") and "row 4" in row.detail


@pytest.mark.django_db
def test_a_refused_download_is_failed_then_a_retry_after_the_fix_imports(client, adyen_host, settings):
    name, url = adyen_file(adyen_host, scenario("adyen"), "45")
    settings.ADYEN_REPORT_API_KEY = "AQE_wrong"
    item = report_available(name, url)

    response = send_adyen(client, item)

    assert response.status_code == 200 and not SettlementImport.objects.exists()
    row = event_row("REPORT_AVAILABLE")
    assert row.status == "failed" and "HTTP 401" in row.detail and "AQE_wrong" not in row.detail

    settings.ADYEN_REPORT_API_KEY = ADYEN_REPORT_KEY
    send_adyen(client, item)  # Adyen's retry of the same notification (or a replay from the inbox)

    assert SettlementImport.objects.get().file_name == name
    assert event_row("REPORT_AVAILABLE").status == "applied"


@pytest.mark.django_db
def test_other_reports_and_foreign_urls_are_not_downloaded(client, adyen_host):
    adyen_host.files["/reports/download/x/received_payments_report_2026_11_20.csv"] = b"anything"

    send_adyen(client, report_available("received_payments_report_2026_11_20.csv",
                                        adyen_host.url + "/reports/download/x/received_payments_report_2026_11_20.csv"))
    send_adyen(client, report_available("settlement_detail_report_batch_46.csv",
                                        "https://reports.example.net/settlement_detail_report_batch_46.csv"))

    assert adyen_host.requests == [] and not SettlementImport.objects.exists()
    ignored, refused = WebhookEvent.objects.order_by("pk")
    assert ignored.status == "ignored" and "not a settlement details report" in ignored.detail
    assert refused.status == "failed" and refused.detail.startswith("report_url_refused:")


# ---------------------------------------------------------------- Stripe


@pytest.mark.django_db
def test_stripe_itemized_balance_change_report_run_is_downloaded_and_imported(client, stripe_host):
    s = scenario("stripe")
    stripe_host.files["/v1/files/file_recon1/contents"] = report("stripe", s.items, batch="71")
    run = report_run(stripe_host.url + "/v1/files/file_recon1/contents")

    response = send_stripe(client, stripe_event("reporting.report_run.succeeded", run))
    again = send_stripe(client, stripe_event("reporting.report_run.succeeded", run))  # a second event, same file

    assert response.status_code == again.status_code == 200
    job = SettlementImport.objects.get()
    assert (job.psp, job.file_name, job.source) == ("stripe", run["result"]["filename"], "webhook")
    assert job.line_count == len(s.items) + 2 and job.matched_count == 4
    assert list(WebhookEvent.objects.order_by("pk").values_list("status", flat=True)) == ["applied", "ignored"]
    expected = "Basic " + base64.b64encode(f"{STRIPE_KEY}:".encode()).decode()
    assert stripe_host.requests[0]["headers"]["authorization"] == expected


@pytest.mark.django_db
def test_other_stripe_report_types_are_stored_only(client, stripe_host):
    run = report_run(stripe_host.url + "/v1/files/file_x/contents", report_type="balance.summary.1")

    response = send_stripe(client, stripe_event("reporting.report_run.succeeded", run))

    assert response.status_code == 200 and stripe_host.requests == []
    row = event_row("reporting.report_run.succeeded")
    assert row.status == "ignored" and "balance.summary.1" in row.detail
    assert not SettlementImport.objects.exists()


@pytest.mark.django_db
def test_a_missing_stripe_file_is_failed_in_the_inbox(client, stripe_host):
    run = report_run(stripe_host.url + "/v1/files/file_gone/contents")

    response = send_stripe(client, stripe_event("reporting.report_run.succeeded", run))

    assert response.status_code == 200 and not SettlementImport.objects.exists()
    row = event_row("reporting.report_run.succeeded")
    assert row.status == "failed" and row.detail.startswith("report_download_failed:") and "HTTP 404" in row.detail
