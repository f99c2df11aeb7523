"""What the simulation breaks on purpose, and the shared state it keeps in Redis.

* ``BrokerProxy``: a TCP proxy in front of Redis. The simulation's publisher and its Celery worker
  reach the broker only through it; ``cut()`` closes every connection and refuses new ones (the
  broker is unreachable), ``restore()`` lets them through again.
* ``SimulationMailBackend``: the mail server. It records every accepted message (with the outbox
  alert header) in Redis, refuses everything while ``smtp_down`` is set, and while ``smtp_stall``
  is set it blocks inside a send, saying which process is stuck, so that process can be killed
  in the middle of a task.
* ``terminate_session``: the database session of this process terminated from another one (a
  failover, a restart), just before a task runs: in the simulation process, or in the worker when
  the simulation has armed it there (``SimState.arm_db_drop``).
* ``SimState``: the Redis keys of one run (clock, flags, delivered mail, the armed database drop),
  shared by the simulation process and the worker.
"""

from __future__ import annotations

import json
import os
import selectors
import smtplib
import socket
import threading
import time
from datetime import datetime
from urllib.parse import urlparse

from django.core.mail.backends.base import BaseEmailBackend

from backoffice.notifications.services import ALERT_HEADER

ENV_REDIS = "BACKOFFICE_SIM_REDIS"
ENV_RUN = "BACKOFFICE_SIM_RUN"
ENV_QUEUE = "BACKOFFICE_SIM_QUEUE"  # the run's queue: the worker's default, so tasks sent by tasks reach it


def terminate_session(connection) -> int:
    """Terminate ``connection``'s database session from another session; returns its backend pid.
    The connection does not notice until its next query fails, as after a failover or a restart."""
    import psycopg

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    return pid


class SimState:
    """The run's keys in Redis (``bo-sim:<run>:…``)."""

    _current: SimState | None = None

    def __init__(self, redis_url: str, run: str):
        import redis

        self.run, self.url = run, redis_url
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        self.prefix = f"bo-sim:{run}:"

    @classmethod
    def from_env(cls) -> SimState | None:
        """This process's state of the current run (one Redis client per process and run)."""
        url, run = os.environ.get(ENV_REDIS), os.environ.get(ENV_RUN)
        if not (url and run):
            return None
        current = cls._current
        if current is None or current.run != run or current.url != url:
            current = cls._current = cls(url, run)
        return current

    def key(self, name: str) -> str:
        return self.prefix + name

    def set_now(self, moment: datetime) -> None:
        self.redis.set(self.key("now"), moment.isoformat())

    def now(self) -> datetime | None:
        value = self.redis.get(self.key("now"))
        return datetime.fromisoformat(value.decode()) if value else None

    def flag(self, name: str, on: bool) -> None:
        if on:
            self.redis.set(self.key(name), "1")
        else:
            self.redis.delete(self.key(name))

    def has(self, name: str) -> bool:
        return bool(self.redis.exists(self.key(name)))

    def arm_db_drop(self, task: str) -> None:
        """The worker terminates its own database session just before it next runs ``task``."""
        self.redis.set(self.key("db_drop"), task)

    def disarm_db_drop(self) -> None:
        self.redis.delete(self.key("db_drop"))

    def claim_db_drop(self, task: str) -> bool:
        """True once, in the process about to run the armed task (the key is deleted atomically)."""
        armed = self.redis.get(self.key("db_drop"))
        return armed is not None and armed.decode() == task and bool(self.redis.delete(self.key("db_drop")))

    def record_db_drop(self, task: str, pid: int) -> None:
        self.redis.set(self.key("db_dropped"), json.dumps({"task": task, "pid": pid}))

    def db_dropped(self) -> dict | None:
        value = self.redis.get(self.key("db_dropped"))
        return json.loads(value) if value else None

    def record_mail(self, payload: dict) -> None:
        self.redis.rpush(self.key("mail"), json.dumps(payload))

    def delivered_mail(self) -> list[dict]:
        return [json.loads(item) for item in self.redis.lrange(self.key("mail"), 0, -1)]

    def stalled(self) -> dict | None:
        value = self.redis.get(self.key("stalled"))
        return json.loads(value) if value else None

    def clear(self) -> None:
        for key in self.redis.scan_iter(match=self.prefix + "*"):
            self.redis.delete(key)


class LocalMailSink:
    """Where the mail backend records deliveries when no Redis is configured (in-process runs)."""

    delivered: list[dict] = []
    down = False


class SimulationMailBackend(BaseEmailBackend):
    """A mail server for the simulation (see the module docstring)."""

    def send_messages(self, email_messages):
        state = SimState.from_env()
        sent = 0
        for message in email_messages:
            if state is not None and state.has("smtp_stall"):
                self._stall(state)
            if (state.has("smtp_down") if state is not None else LocalMailSink.down):
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed (simulated outage)")
            payload = {"alert": message.extra_headers.get(ALERT_HEADER), "to": list(message.to),
                       "subject": message.subject}
            if state is not None:
                state.record_mail(payload)
            else:
                LocalMailSink.delivered.append(payload)
            sent += 1
        return sent

    @staticmethod
    def _stall(state: SimState) -> None:
        """Block while ``smtp_stall`` is set, telling the simulation which process is stuck here."""
        state.redis.set(state.key("stalled"), json.dumps({"pid": os.getpid()}))
        deadline = time.monotonic() + 120
        while state.has("smtp_stall") and time.monotonic() < deadline:
            time.sleep(0.05)
        state.redis.delete(state.key("stalled"))


class BrokerProxy:
    """A loopback TCP proxy to the Redis at ``upstream`` (``redis://host:port/db``) that can be cut."""

    def __init__(self, upstream: str):
        parsed = urlparse(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 6379)
        self.db_path = parsed.path or "/0"
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.cut_off = False
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="broker-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}{self.db_path}"

    def cut(self) -> None:
        self.cut_off = True
        with self._lock:
            pairs, self._pairs = self._pairs, set()
        for a, b in pairs:
            for sock in (a, b):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def restore(self) -> None:
        self.cut_off = False

    def close(self) -> None:
        self._stop.set()
        self.cut()
        self.listener.close()

    def _serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.cut_off:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.add((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, server)
        selector.register(server, selectors.EVENT_READ, client)
        try:
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.5):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            selector.close()
            with self._lock:
                self._pairs.discard((client, server))
            for sock in (client, server):
                try:
                    sock.close()
                except OSError:
                    pass
