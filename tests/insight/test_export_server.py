"""The audit CSV export under gunicorn as the README starts it: a download that lasts longer than
the worker timeout runs to the end with the gthread worker (and is cut off with the sync worker,
which is why the README's command names gthread)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

ROWS = 20_000
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _load_journal_rows(n: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO journal_journalentry (case_type, case_id, case_reference, seq, transition, source_state,
                target_state, actor_id, actor_label, reason, context, created_at, prev_hash, key_id, hash)
            SELECT 'dispute', i, 'DSP-' || lpad(i::text, 6, '0'), 1, 'created', '', 'needs_response', NULL,
                   'system:bench', 'bulk row ' || i, jsonb_build_object('request_id', md5(i::text), 'amount', i),
                   now() - make_interval(secs => i), repeat('0', 64), '', md5(i::text) || md5((i + 1)::text)
            FROM generate_series(1, %s) AS i
            """,
            [n],
        )


def _start(worker_class: str, port: int, env: dict[str, str], log) -> subprocess.Popen:
    args = [sys.executable, "-m", "gunicorn", "backoffice.wsgi", "--workers", "1", "--worker-class", worker_class,
            "--timeout", "2", "--graceful-timeout", "1", "--bind", f"127.0.0.1:{port}"]
    if worker_class == "gthread":
        args += ["--threads", "2"]
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail("gunicorn did not start")


def _slow_download(port: int, cookie: str) -> bytes:
    sock = socket.socket()
    sock.settimeout(30)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET /audit/export.csv HTTP/1.0\r\nHost: 127.0.0.1\r\nCookie: sessionid={cookie}\r\n\r\n".encode())
    received = [sock.recv(16 * 1024)]
    time.sleep(4)  # the reader stalls for twice the worker timeout; the server waits on its socket
    while chunk := sock.recv(256 * 1024):
        received.append(chunk)
    sock.close()
    return b"".join(received)


@pytest.mark.django_db(transaction=True)
def test_long_export_survives_the_worker_timeout_with_gthread_only(client, auditor, tmp_path):
    _load_journal_rows(ROWS)
    client.force_login(auditor)
    cookie = client.cookies["sessionid"].value
    db = connection.settings_dict
    # Only what the server needs: nothing another test left in os.environ reaches it.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           "DJANGO_SETTINGS_MODULE": "backoffice.settings.test",
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"}
    results = {}
    for worker_class in ("gthread", "sync"):
        port = _free_port()
        log_path = tmp_path / f"gunicorn-{worker_class}.log"
        with open(log_path, "w") as log:
            proc = _start(worker_class, port, env, log)
            try:
                body = _slow_download(port, cookie)
            finally:
                proc.terminate()
                proc.wait(15)
        head, _, csv_body = body.partition(b"\r\n\r\n")
        log_text = log_path.read_text()
        traceback = log_text[log_text.find("Traceback"):][:4000]
        assert head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")), (head[:200], traceback)
        results[worker_class] = csv_body.count(b"\n") - 1  # header line
    assert results["gthread"] == ROWS
    assert results["sync"] < ROWS
