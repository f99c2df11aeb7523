"""A local fake of Adyen's Checkout refund endpoint and Disputes API on 127.0.0.1, recording requests.

``POST /checkout/payments/{paymentPspReference}/refunds`` answers 201 ``{"status": "received",
"pspReference": …}`` once per ``Idempotency-Key`` (a repeated key replays the first answer), as Adyen
does; the outcome is the test's to send as a ``REFUND`` notification. ``POST /disputes/supplyDefenseDocument``
and ``/disputes/defendDispute`` answer ``{"disputeServiceResult": {"success": true}}`` (or the scripted
``dispute_answers``: ``(http_status, success, errorMessage)``).
"""

from __future__ import annotations

import itertools
import json
import threading

from tests.fakepsp import Answer, FakeService


class FakeAdyen(FakeService):
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.dispute_answers: list[tuple] = []
        self._by_key: dict[str, tuple[int, dict]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def serve(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        return Answer.json(*self._handle(path, headers, json.loads(raw or b"{}")))

    def calls(self, suffix: str) -> list[dict]:
        return [r for r in self.requests if r["path"].endswith(suffix)]

    def _handle(self, path: str, headers: dict, body: dict) -> tuple[int, dict]:
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "body": body})
            if headers.get("x-api-key") != "AQE_test_key":
                return 401, {"status": 401, "errorCode": "000", "message": "HTTP Status Response - Unauthorized",
                             "errorType": "security"}
            key = headers.get("idempotency-key", "")
            if key and key in self._by_key:
                return self._by_key[key]
            if path.startswith("/checkout/payments/") and path.endswith("/refunds"):
                answer = (201, {"merchantAccount": body.get("merchantAccount"),
                                "paymentPspReference": path.split("/")[3],
                                "pspReference": f"99{next(self._ids):014d}", "reference": body.get("reference"),
                                "status": "received", "amount": body.get("amount")})
            elif path in ("/disputes/supplyDefenseDocument", "/disputes/defendDispute"):
                status, success, message = self.dispute_answers.pop(0) if self.dispute_answers else (200, True, "")
                result = {"success": success}
                if message:
                    result["errorMessage"] = message
                answer = (status, {"disputeServiceResult": result} if status < 500 else
                          {"status": status, "errorCode": "905", "message": "Internal error", "errorType": "internal"})
            else:
                return 404, {"status": 404, "errorCode": "000", "message": "Not found", "errorType": "validation"}
            if key:
                self._by_key[key] = answer
            return answer
