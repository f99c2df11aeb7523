"""Start the product's own entry points (``manage.py``, ``celery``) as processes on this test's database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def test_database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def product_env(*, settings: str = "backoffice.settings.local", redis: bool = False, **extra: str) -> dict[str, str]:
    """The environment a person starting the product would have, pointed at the test database."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings, "DATABASE_URL": test_database_url(),
           "PYTHONUNBUFFERED": "1", **extra}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    if not redis:
        env.pop("REDIS_URL", None)
    return env


class Process:
    """A child process with its output in a temporary file (read it with ``output()``)."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.log = tempfile.NamedTemporaryFile(prefix="bo-proc-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 20) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


def manage(*args: str, env: dict[str, str]) -> Process:
    return Process([sys.executable, "manage.py", *args], env)


def celery(*args: str, env: dict[str, str]) -> Process:
    return Process([sys.executable, "-m", "celery", "-A", "backoffice", *args], env)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float = 60.0, every: float = 0.3,
             processes: tuple[Process, ...] = ()) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        for process in processes:
            if not process.alive():
                raise AssertionError(f"{process.proc.args} exited:\n{process.output()[-4000:]}")
        time.sleep(every)
    return False
