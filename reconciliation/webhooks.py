"""Settlement reports announced by webhook, registered with the webhook intake (``backoffice.webhooks``).

* **Adyen** ``REPORT_AVAILABLE``: the item's ``pspReference`` is the report's file name and ``reason``
  its download URL. A settlement details report (``settlement_detail_report_batch_N.csv``) is
  downloaded with the report credentials — basic auth with ``ADYEN_REPORT_USERNAME`` /
  ``ADYEN_REPORT_PASSWORD`` (the report user), else the ``X-API-Key`` header with
  ``ADYEN_REPORT_API_KEY`` or ``ADYEN_API_KEY`` — and imported. Other reports are stored, ignored.
* **Stripe** ``reporting.report_run.succeeded``: a ``balance_change_from_activity.itemized.*`` run's
  ``result.url`` (a File download URL) is fetched with ``STRIPE_API_KEY`` and imported. Other report
  types are stored, ignored.

The file goes through ``settlement_import`` (same validation, imported once by file hash and batch /
payout id) as ``system:reconciliation`` with source ``webhook``. A file already imported is
``ignored`` (naming the import). A download or validation failure refuses the event: it is kept
``failed`` with the reason in the webhook inbox, nothing is imported, and the PSP still gets 2xx —
a PSP retry of the same notification, or a team lead's replay, tries the download again.

Credentials are only ever sent to the PSP's own hosts (https ``*.adyen.com``, ``files.stripe.com``)
or, for a local fake, to ``ADYEN_API_BASE`` / ``STRIPE_API_BASE``.
"""

from __future__ import annotations

import os
import re
import tempfile
from typing import Any
from urllib.parse import urlparse

import requests
from django.conf import settings

from backoffice.errors import DomainError, InvalidInput
from backoffice.webhooks.registry import Outcome, PspEvent, register

from .conf import setting
from .imports import settlement_import
from .models import RECONCILIATION

ADYEN_SETTLEMENT_FILE = re.compile(r"^settlement_detail_report_batch_\d+\.csv$")
STRIPE_REPORT_TYPE_PREFIX = "balance_change_from_activity.itemized."
CHUNK_BYTES = 256 * 1024


class DownloadFailed(DomainError):
    """The report could not be fetched (refused, unreachable, no credentials)."""

    code = "report_download_failed"
    status = 502


def _trusted(url: str, *, hosts: tuple[str, ...], host_suffix: str, local_base: str) -> bool:
    if local_base and url.startswith(local_base.rstrip("/") + "/"):
        return True
    parts = urlparse(url)
    host = (parts.hostname or "").lower()
    return parts.scheme == "https" and (host in hosts or (bool(host_suffix) and host.endswith(host_suffix)))


def _download(url: str, *, auth: Any, headers: dict[str, str], timeout: float) -> tempfile.SpooledTemporaryFile:
    """The file at ``url``, streamed into a spooled temporary file (no larger than the import limit)."""
    limit = setting("SETTLEMENT_IMPORT_MAX_BYTES")
    binary = None
    try:
        with requests.get(url, auth=auth, headers=headers, timeout=timeout, stream=True,
                          allow_redirects=False) as response:
            if response.status_code != 200:
                raise DownloadFailed(f"The report download answered HTTP {response.status_code}: nothing imported.",
                                     code="report_download_failed")
            binary = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - returned open
            size = 0
            for chunk in response.iter_content(CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    binary.close()
                    raise InvalidInput("The report is too large: nothing imported.", code="file_too_large")
                binary.write(chunk)
    except requests.RequestException as exc:
        if binary is not None:
            binary.close()
        raise DownloadFailed(f"The report could not be downloaded ({type(exc).__name__}): nothing imported.",
                             code="report_download_failed") from exc
    binary.seek(0)
    return binary


def _import(*, psp: str, binary: Any, file_name: str) -> Outcome:
    try:
        with binary:
            job = settlement_import(psp=psp, binary=binary, file_name=file_name, actor=RECONCILIATION,
                                    source="webhook")
    except DomainError as err:
        if err.code == "already_imported":
            return Outcome.ignored(err.message)
        raise
    return Outcome.applied(f"Imported {file_name} as settlement import #{job.pk}: {job.line_count} lines, "
                           f"{job.matched_count} matched, {job.break_count} breaks.")


# ---------------------------------------------------------------- Adyen


def _conf(name: str) -> str:
    """A credential from Django settings, else the environment (never stored, never logged)."""
    return getattr(settings, name, "") or os.environ.get(name, "")


def adyen_report_auth() -> tuple[Any, dict[str, str]]:
    user, password = _conf("ADYEN_REPORT_USERNAME"), _conf("ADYEN_REPORT_PASSWORD")
    if user and password:
        return (user, password), {}
    key = _conf("ADYEN_REPORT_API_KEY") or _conf("ADYEN_API_KEY")
    if key:
        return None, {"X-API-Key": key}
    raise DownloadFailed("No Adyen report credentials (ADYEN_REPORT_USERNAME/ADYEN_REPORT_PASSWORD or "
                         "ADYEN_REPORT_API_KEY): nothing imported.", code="report_credentials_missing")


def apply_adyen_report(event: PspEvent, *, payment_id: int | None = None) -> Outcome:
    item = event.data
    file_name = str(item.get("pspReference") or "")
    url = str(item.get("reason") or "")
    if not ADYEN_SETTLEMENT_FILE.match(file_name):
        return Outcome.ignored(f"Report {file_name[:100]} is not a settlement details report: stored only.")
    if str(item.get("success") or "").lower() != "true":
        return Outcome.ignored(f"Report {file_name} was not generated (success={item.get('success')!r}).")
    if not _trusted(url, hosts=(), host_suffix=".adyen.com", local_base=getattr(settings, "ADYEN_API_BASE", "")):
        raise InvalidInput(f"The download URL of {file_name} is not an Adyen https address: not downloaded.",
                           code="report_url_refused")
    auth, headers = adyen_report_auth()
    binary = _download(url, auth=auth, headers=headers, timeout=settings.ADYEN_TIMEOUT_SECONDS)
    return _import(psp="adyen", binary=binary, file_name=file_name)


register(psp="adyen", event_types=["REPORT_AVAILABLE"], handler=apply_adyen_report)


# ---------------------------------------------------------------- Stripe


def apply_stripe_report_run(event: PspEvent, *, payment_id: int | None = None) -> Outcome:
    run = event.data
    report_type = str(run.get("report_type") or "")
    if not report_type.startswith(STRIPE_REPORT_TYPE_PREFIX):
        return Outcome.ignored(f"Report type {report_type[:100]!r} is not an itemized balance-change report: "
                               "stored only.")
    result = run.get("result")
    url = str(result.get("url") or "") if isinstance(result, dict) else ""
    if not url:
        raise InvalidInput("The report run has no result file URL: nothing imported.", code="report_url_missing")
    if not _trusted(url, hosts=("files.stripe.com",), host_suffix="",
                    local_base=getattr(settings, "STRIPE_API_BASE", "")):
        raise InvalidInput("The report's file URL is not a Stripe https address: not downloaded.",
                           code="report_url_refused")
    key = _conf("STRIPE_API_KEY")
    if not key:
        raise DownloadFailed("STRIPE_API_KEY is not set: the report cannot be downloaded.",
                             code="report_credentials_missing")
    file_name = str(result.get("filename") or "") or f"{run.get('id') or 'report'}.csv"
    binary = _download(url, auth=(key, ""), headers={}, timeout=settings.STRIPE_TIMEOUT_SECONDS)
    return _import(psp="stripe", binary=binary, file_name=file_name)


register(psp="stripe", event_types=["reporting.report_run.succeeded"], handler=apply_stripe_report_run)
