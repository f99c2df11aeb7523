"""A local HTTP service on 127.0.0.1 (http.server in a thread) standing in for a PSP's API: the fakes of
Stripe, Adyen and their report hosts (and any server a test needs to count requests).

A fake subclasses ``FakeService`` and answers ``serve(method, path, headers, raw)`` (headers with
lower-case names, the raw body) with an ``Answer``; ``start()`` listens on a free port, ``url`` is its
base URL, ``stop()`` shuts it down (``with Fake() as fake:`` does both). ``serve`` runs on the
server's thread for that request, so a fake that sleeps in it answers late, as a slow PSP does.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: object, **headers: str) -> Answer:
        return cls(status, json.dumps(data).encode(), headers=headers)


class FakeService(ABC):
    _server: ThreadingHTTPServer | None = None

    @abstractmethod
    def serve(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        """The answer to one request (every fake says what it answers)."""

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                self._answer("GET")

            def do_POST(self):  # noqa: N802 - http.server's naming
                self._answer("POST")

            def _answer(self, method: str) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer = fake.serve(method, self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", answer.content_type)
                    self.send_header("Content-Length", str(len(answer.body)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and went away (what a test of a slow PSP wants)

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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"
