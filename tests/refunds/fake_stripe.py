"""A local fake of Stripe's refund endpoint on 127.0.0.1 (http.server in a thread) that records requests.

It behaves like Stripe where it matters here: ``POST /v1/refunds`` creates a refund once per
``Idempotency-Key`` and replays the first answer for the same key. ``answers`` scripts the next
new-key answers (``("refund", "succeeded")``, ``("error", 400, "charge_disputed")``, ``("status", 500)``);
``hang_first_seconds`` makes it execute the refund and then answer late, the first time a key is seen,
so a client with a shorter timeout never hears that the refund happened.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl


class FakeStripe:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.refunds: dict[str, dict] = {}
        self.answers: list[tuple] = []
        self.hang_first_seconds = 0.0
        self._by_key: dict[str, tuple[int, dict]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -------------------------------------------------------------- lifecycle
    def start(self) -> FakeStripe:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                params = dict(parse_qsl(self.rfile.read(length).decode()))
                status, body, delay = fake._handle(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                   params)
                if delay:
                    time.sleep(delay)
                payload = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.send_header("Request-Id", f"req_fake_{len(fake.requests)}")
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and went away: exactly what the test wants

            def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -------------------------------------------------------------- behaviour
    def _handle(self, path: str, headers: dict, params: dict) -> tuple[int, dict, float]:
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "params": params})
            if path != "/v1/refunds":
                return 404, {"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}}, 0
            if not headers.get("authorization", "").startswith("Bearer sk_"):
                return 401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}}, 0
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
