"""A local fake of Stripe's refund endpoint on 127.0.0.1 (http.server in a thread) that records requests.

It behaves like Stripe where it matters here: ``POST /v1/refunds`` creates a refund once per
``Idempotency-Key`` and replays the first answer for the same key; ``GET /v1/refunds/{id}`` answers
the refund's current status (``settle(id, status)`` moves a pending one, as Stripe does later);
``POST /v1/files`` (multipart, purpose ``dispute_evidence``) stores a file and ``POST /v1/disputes/{id}``
updates a dispute's evidence (``submit=true`` moves it to ``under_review``), both idempotent per key.
``answers`` scripts the next new-key answers (``("refund", "succeeded")``,
``("error", 400, "charge_disputed")``, ``("status", 500)``);
``hang_first_seconds`` makes it execute the refund and then answer late, the first time a key is seen,
so a client with a shorter timeout never hears that the refund happened.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.parser import BytesParser
from email.policy import default as default_policy
from urllib.parse import parse_qsl

from tests.fakepsp import Answer, FakeService


def _multipart(raw: bytes, content_type: str) -> dict:
    """Form fields of a multipart body; a file field becomes ``{"filename", "content"}``."""
    message = BytesParser(policy=default_policy).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    fields: dict = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        content = part.get_payload(decode=True) or b""
        fields[name] = {"filename": filename, "content": content} if filename else content.decode()
    return fields


class FakeStripe(FakeService):
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.refunds: dict[str, dict] = {}
        self.answers: list[tuple] = []
        self.files: dict[str, dict] = {}
        self.disputes: dict[str, dict] = {}
        self.dispute_answers: list[tuple] = []  # scripted (status, code) for the next dispute updates
        self.hang_first_seconds = 0.0
        self._by_key: dict[str, tuple[int, dict]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -------------------------------------------------------------- lifecycle
    def serve(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        if headers.get("content-type", "").startswith("multipart/form-data"):
            params = _multipart(raw, headers["content-type"])
        else:
            params = dict(parse_qsl(raw.decode()))
        status, body, delay = self._handle(path, headers, params, method=method)
        if delay:
            time.sleep(delay)
        return Answer.json(status, body, **{"Request-Id": f"req_fake_{len(self.requests)}"})

    # -------------------------------------------------------------- behaviour
    def settle(self, refund_id: str, status: str, failure_reason: str | None = None) -> None:
        """What Stripe does later to a pending refund (the webhook is the test's to send)."""
        with self._lock:
            self.refunds[refund_id] = {**self.refunds[refund_id], "status": status, "failure_reason": failure_reason}

    def calls(self, method: str, prefix: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == method and r["path"].startswith(prefix)]

    def _handle(self, path: str, headers: dict, params: dict, method: str = "POST") -> tuple[int, dict, float]:
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "params": params, "method": method})
            if not headers.get("authorization", "").startswith("Bearer sk_"):
                return 401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}}, 0
            if method == "GET" and path.startswith("/v1/refunds/"):
                found = self.refunds.get(path.rsplit("/", 1)[-1])
                if found is None:
                    return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing",
                                           "message": "No such refund"}}, 0
                return 200, found, 0
            if method == "POST" and path == "/v1/files":
                return self._idempotent(headers, lambda: self._file(params))
            if method == "POST" and path.startswith("/v1/disputes/"):
                return self._idempotent(headers, lambda: self._dispute(path.rsplit("/", 1)[-1], params))
            if path != "/v1/refunds" or method != "POST":
                return 404, {"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}}, 0
            key = headers.get("idempotency-key", "")
            if key in self._by_key:
                status, body = self._by_key[key]
                return status, body, 0
            answer = self.answers.pop(0) if self.answers else ("refund", "succeeded")
            if answer[0] == "status":
                return answer[1], {"error": {"type": "api_error", "message": "Something went wrong."}}, 0
            if answer[0] == "error":
                status, code = answer[1], answer[2]
                body = {"error": {"type": "card_error" if status == 402 else "invalid_request_error",
                                  "code": code, "message": f"Refused: {code}."}}
            else:
                refund_id = f"re_fake_{next(self._ids):04d}"
                body = {"id": refund_id, "object": "refund", "amount": int(params.get("amount", 0)),
                        "charge": params.get("charge"), "payment_intent": params.get("payment_intent"),
                        "currency": "usd", "status": answer[1], "reason": params.get("reason"),
                        "failure_reason": answer[2] if len(answer) > 2 else None,
                        "metadata": {k[9:-1]: v for k, v in params.items() if k.startswith("metadata[")}}
                status = 200
                self.refunds[refund_id] = body
            self._by_key[key] = (status, body)
            delay, self.hang_first_seconds = self.hang_first_seconds, 0.0
            return status, body, delay

    def keys(self) -> list[str]:
        return [r["headers"].get("idempotency-key") for r in self.requests]

    # Files and disputes -------------------------------------------------------
    def _idempotent(self, headers: dict, make) -> tuple[int, dict, float]:
        key = headers.get("idempotency-key", "")
        if key and key in self._by_key:
            status, body = self._by_key[key]
            return status, body, 0
        status, body = make()
        if key:
            self._by_key[key] = (status, body)
        return status, body, 0

    def _file(self, params: dict) -> tuple[int, dict]:
        if params.get("purpose") != "dispute_evidence":
            return 400, {"error": {"type": "invalid_request_error", "message": "Invalid purpose"}}
        file_id = f"file_fake_{next(self._ids):04d}"
        upload = params.get("file") or {}
        body = {"id": file_id, "object": "file", "purpose": "dispute_evidence", "filename": upload.get("filename"),
                "size": len(upload.get("content") or b""), "type": (upload.get("filename") or "").rsplit(".", 1)[-1]}
        self.files[file_id] = {**body, "content": upload.get("content")}
        return 200, body

    def _dispute(self, dispute_id: str, params: dict) -> tuple[int, dict]:
        if self.dispute_answers:
            status, code = self.dispute_answers.pop(0)
            if status >= 500:
                return status, {"error": {"type": "api_error", "message": "Something went wrong."}}
            return status, {"error": {"type": "invalid_request_error", "code": code, "message": f"Refused: {code}."}}
        evidence = {k[9:-1]: v for k, v in params.items() if k.startswith("evidence[")}
        dispute = self.disputes.setdefault(dispute_id, {"id": dispute_id, "object": "dispute",
                                                        "status": "needs_response", "evidence": {}})
        dispute["evidence"].update(evidence)
        if params.get("submit") == "true":
            dispute["status"] = "under_review"
        return 200, dispute


@contextmanager
def fake_stripe_configured(settings, *, gateway: str, timeout: float) -> Iterator[FakeStripe]:
    """A running ``FakeStripe`` the app's Stripe client calls (key, base URL, ``timeout`` seconds), with
    ``PAYMENT_GATEWAY = gateway``."""
    with FakeStripe() as fake:
        settings.PAYMENT_GATEWAY = gateway
        settings.STRIPE_API_KEY = "sk_test_fake"
        settings.STRIPE_API_BASE = fake.url
        settings.STRIPE_TIMEOUT_SECONDS = timeout
        yield fake
