"""The measurements: every queue page, API list, search, admin changelist and baseline, interleaved,
then tasks, transitions, PDFs, the CSV export and ``verify_journal``.

Server time is measured in-process through Django's test client (the full middleware, view,
template and serializer stack; no network). Each request is repeated in rounds over all the
cases so that noise from the shared machine falls on every case alike. A separate pass per case
records its SQL: the number of queries, whether any is a ``COUNT(``, the time PostgreSQL spent,
and the main (slowest) query, which is then run alone (raw SQL, median of 5) and through
``EXPLAIN (ANALYZE, BUFFERS)``.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Probe:
    group: str
    label: str
    url: str
    user: str
    budget_ms: float | None = 50.0
    compare: dict[str, str] = field(default_factory=dict)  # "admin"/"plain" -> label of the baseline probe
    times: list[float] = field(default_factory=list)
    status: int = 0
    queries: int = 0
    sql_ms: float = 0.0
    counts: int = 0
    main_sql: str = ""
    raw_ms: float | None = None
    explain_ms: float | None = None
    plan_top: str = ""
    rows: int | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")

    @property
    def p95(self) -> float:
        if not self.times:
            return float("nan")
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _log(message: str) -> None:
    print(f"[measure {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _one(sql_params: str) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql_params)
        return cursor.fetchall()


def _value(sql: str, params: list | None = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        row = cursor.fetchone()
    return row[0] if row else None


# ---- which pages ----------------------------------------------------------------------------------------


def deep_url(base: str, *, api: bool, username: str, rows_in: int = 10_000) -> tuple[str, str]:
    """A page ``rows_in`` rows deep: by a cursor where the project paginates by keyset, else by page number.

    The cursor is the one the project itself would put in a ``next`` link after that many rows.
    """
    try:
        from backoffice.pagination import encode_cursor, ordering_of
    except ImportError:
        encode_cursor = None
    sep = "&" if "?" in base else "?"
    if encode_cursor is not None:
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.get(username=username)
        qs, keys = _list_queryset(base, api=api, user=user)
        keys = keys or (ordering_of(qs) if qs is not None else None)
        if qs is not None and keys:
            ordered = qs.order_by(*[k.expr for k in keys])
            row = ordered[rows_in - 1: rows_in].first()
            how = "cursor"
            if row is None:  # a shorter list (small scale): the middle of it
                ids = list(ordered.values_list("pk", flat=True)[:rows_in])
                row = ordered.filter(pk=ids[len(ids) // 2]).first() if len(ids) > 1 else None
                how = f"cursor {len(ids) // 2:,} in"
            if row is not None:
                return f"{base}{sep}cursor={encode_cursor(row, keys)}", how
    return f"{base}{sep}page={rows_in // 25 + 1}", "page"


def _list_queryset(base: str, *, api: bool, user) -> tuple[Any, Any]:
    from urllib.parse import parse_qs, urlsplit

    from django.urls import resolve

    parts = urlsplit(base)
    if not api:
        from backoffice.cases.registry import get_case_type
        from backoffice.web.views import queue_ordering

        name = parts.path.strip("/").split("/")[-1]
        spec = get_case_type(parse_qs(parts.query).get("type", ["disputes"])[0])
        keys, _ = queue_ordering(spec, "")
        return spec.queue(name, user), keys
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    match = resolve(parts.path)
    view = match.func.cls(**getattr(match.func, "initkwargs", {}))
    request = Request(APIRequestFactory().get(base))
    request.user = user
    view.request, view.args, view.kwargs, view.format_kwarg = request, (), match.kwargs, None
    view.action = "list"
    return view.get_queryset(), None


def probes(sample: dict[str, Any]) -> list[Probe]:
    spec, lead, auditor, admin = "spec01", "lead01", "auditor01", "benchadmin"
    out: list[Probe] = []

    def add(group, label, url, user=lead, **kw):
        out.append(Probe(group, label, url, user, **kw))
        return out[-1]

    # Baselines over the same rows (plain ListView/ModelViewSet with COUNT + OFFSET; stock admin changelist).
    add("baseline", "plain ListView disputes p1", "/bench/plain/disputes/", budget_ms=None)
    add("baseline", "plain ListView disputes 10k in", "/bench/plain/disputes/?page=401", budget_ms=None)
    add("baseline", "plain ListView refunds p1", "/bench/plain/refunds/", budget_ms=None)
    add("baseline", "plain ModelViewSet disputes p1", "/bench/plain/api/disputes/", budget_ms=None)
    add("baseline", "plain ModelViewSet disputes 10k in", "/bench/plain/api/disputes/?page=401", budget_ms=None)
    add("baseline", "plain ModelViewSet refunds p1", "/bench/plain/api/refunds/", budget_ms=None)
    add("baseline", "admin changelist disputes p1", "/admin/disputes/dispute/", admin, budget_ms=None)
    add("baseline", "admin changelist disputes 10k in", "/admin/disputes/dispute/?p=400", admin, budget_ms=None)
    add("baseline", "admin changelist disputes search psp id",
        f"/admin/disputes/dispute/?q={sample['psp_dispute_id']}", admin, budget_ms=None)
    add("baseline", "admin changelist refunds p1", "/admin/refunds/refund/", admin, budget_ms=None)
    add("baseline", "admin changelist journal p1", "/admin/journal/journalentry/", admin, budget_ms=None)

    base_cmp = {"admin": "admin changelist disputes p1", "plain": "plain ListView disputes p1"}
    deep_cmp = {"admin": "admin changelist disputes 10k in", "plain": "plain ListView disputes 10k in"}
    for name in ("all", "mine", "unassigned", "due-soon", "overdue"):
        user = spec if name == "mine" else lead
        base = f"/queues/{name}/?type=disputes"
        add("queue", f"{name} disputes p1", base, user, compare=base_cmp)
        url, how = deep_url(base, api=False, username=user)
        add("queue", f"{name} disputes 10k in ({how})", url, user, compare=deep_cmp)
    add("queue", "approvals refunds p1 (lead)", "/queues/approvals/?type=refunds")
    add("queue", "approvals extensions p1 (lead)", "/queues/approvals/?type=extensions")
    refund_cmp = {"admin": "admin changelist refunds p1", "plain": "plain ListView refunds p1"}
    add("queue", "all refunds p1", "/queues/all/?type=refunds", compare=refund_cmp)
    url, how = deep_url("/queues/all/?type=refunds", api=False, username=lead)
    add("queue", f"all refunds 10k in ({how})", url)
    add("queue", "all extensions p1", "/queues/all/?type=extensions")
    for label, query in (("state+currency", "state=needs_response&currency=USD"),
                         ("network+stage", "network=visa&stage=chargeback"),
                         ("reason category", "category=fraud"),
                         ("due before/after", f"due_after={sample['due_after']}&due_before={sample['due_before']}"),
                         ("assignee", f"assignee={sample['assignee_id']}")):
        add("filter", f"disputes all: {label}", f"/queues/all/?type=disputes&{query}", compare=base_cmp)
    for column in ("reference", "-reference", "internal_due_at", "-internal_due_at"):
        add("sort", f"disputes all sort={column}", f"/queues/all/?type=disputes&sort={column}", compare=base_cmp)
    for column in ("state", "amount", "currency", "reason", "requester", "-created", "due", "assignee"):
        add("sort", f"refunds all sort={column}", f"/queues/all/?type=refunds&sort={column}")
    searches = (("case reference", sample["reference"]), ("PSP dispute id", sample["psp_dispute_id"]),
                ("charge reference", sample["charge_reference"]), ("invoice number", sample["invoice_number"]),
                ("customer e-mail", sample["email"]), ("card last four", sample["last4"]),
                ("rare customer name", sample["rare_name"]), ("common customer name", sample["common_name"]),
                ("no match", "zz-no-such-key-zz"))
    for label, value in searches:
        add("search", f"queue search: {label}", f"/queues/all/?type=disputes&q={_quote(value)}")
    for label, value in searches:
        add("search", f"API search: {label}", f"/api/v1/disputes/?q={_quote(value)}")

    api_cmp = {"plain": "plain ModelViewSet disputes p1"}
    for resource in ("disputes", "refunds", "extensions", "payments", "invoices", "customers", "audit/transitions"):
        base = f"/api/v1/{resource}/"
        user = auditor if resource.startswith("audit") else lead
        add("api", f"{resource} p1", base, user, compare=api_cmp if resource == "disputes" else {})
        url, how = deep_url(base, api=True, username=user)
        add("api", f"{resource} 10k in ({how})", url, user,
            compare={"plain": "plain ModelViewSet disputes 10k in"} if resource == "disputes" else {})
    add("api", "disputes state+currency", "/api/v1/disputes/?state=needs_response&currency=USD")
    add("api", "refunds state", "/api/v1/refunds/?state=pending_approval")

    # The default view is read from the summary table the periodic task refreshes (bench/run.py refreshes it
    # before the probes, as insight.refresh_dashboard does every five minutes); any other view is computed.
    add("insight", "dashboard (default view, summary table)", "/dashboard/", budget_ms=None)
    add("insight", "dashboard (one currency, computed live)", "/dashboard/?currency=USD", budget_ms=None)
    add("insight", "audit page 1", "/audit/", auditor, budget_ms=None)
    add("insight", "audit search by reference", f"/audit/?q={sample['reference']}", auditor, budget_ms=None)
    add("insight", "audit search by actor", "/audit/?actor=lead03", auditor, budget_ms=None)
    return out


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value)


def sample_keys() -> dict[str, Any]:
    """Real keys to search for, taken from the middle of the data."""
    mid = _value("SELECT max(id) / 2 + 1 FROM disputes_dispute") or 1
    row = _one(f"""SELECT d.reference, d.psp_dispute_id, p.psp_reference, i.number, c.email, p.card_last4, c.name
                   FROM disputes_dispute d JOIN invoices_payment p ON p.id = d.payment_id
                   JOIN invoices_invoice i ON i.id = p.invoice_id JOIN invoices_customer c ON c.id = p.customer_id
                   WHERE d.id >= {mid} AND p.psp = 'stripe' AND p.card_last4 <> '' ORDER BY d.id LIMIT 1""")[0]
    from bench.generate import RARE_NAME

    return {
        "reference": row[0], "psp_dispute_id": row[1], "charge_reference": row[2], "invoice_number": row[3],
        "email": row[4], "last4": row[5], "common_name": row[6].split(" ")[0] + " " + row[6].split(" ")[1],
        "rare_name": RARE_NAME.split(" ")[1],
        "due_after": "2020-01-01T00:00:00Z",
        "due_before": _value("SELECT to_char(now() + interval '3 days', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"),
        "assignee_id": _value("SELECT id FROM auth_user WHERE username = 'spec03'"),
    }


# ---- running requests ---------------------------------------------------------------------------------


class Clients:
    def __init__(self) -> None:
        from django.contrib.auth import get_user_model

        self._clients: dict[str, Client] = {}
        self._users = {u.username: u for u in get_user_model().objects.filter(
            username__in=["spec01", "lead01", "auditor01", "benchadmin"])}

    def get(self, username: str) -> Client:
        if username not in self._clients:
            client = Client()
            client.force_login(self._users[username])
            self._clients[username] = client
        return self._clients[username]


def _request(clients: Clients, probe: Probe) -> tuple[float, Any]:
    client = clients.get(probe.user)
    started = time.perf_counter()
    response = client.get(probe.url)
    if getattr(response, "streaming", False):
        for _ in response.streaming_content:
            pass
    else:
        _ = response.content
    elapsed = (time.perf_counter() - started) * 1000
    probe.status = response.status_code
    return elapsed, response


def run_probes(items: list[Probe], *, rounds: int, warmup: int = 2) -> None:
    clients = Clients()
    for r in range(warmup + rounds):
        for probe in items:
            elapsed, _ = _request(clients, probe)
            if r >= warmup:
                probe.times.append(elapsed)
        _log(f"round {r + 1}/{warmup + rounds} done")
    for probe in items:
        with CaptureQueriesContext(connection) as ctx:
            _request(clients, probe)
        queries = [q for q in ctx.captured_queries
                   if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"))]
        probe.queries = len(queries)
        probe.sql_ms = sum(float(q["time"]) for q in queries) * 1000
        probe.counts = sum(1 for q in queries if re.search(r"\bCOUNT\(", q["sql"], re.I))
        slowest = max(queries, key=lambda q: float(q["time"]), default=None)
        if slowest is not None and slowest["sql"].lstrip().upper().startswith("SELECT"):
            probe.main_sql = slowest["sql"]
            raw = []
            for _ in range(5):
                started = time.perf_counter()
                _one(probe.main_sql)
                raw.append((time.perf_counter() - started) * 1000)
            probe.raw_ms = statistics.median(raw)
            plan = _one("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + probe.main_sql)[0][0]
            plan = plan if isinstance(plan, list) else json.loads(plan)
            probe.explain_ms = float(plan[0]["Execution Time"])
            top = plan[0]["Plan"]
            probe.plan_top = _plan_summary(top)


def _plan_summary(node: dict) -> str:
    """The first few node types of a plan, e.g. 'Limit > Nested Loop > Index Scan dispute_open_due_idx'."""
    parts = []
    while node and len(parts) < 4:
        name = node["Node Type"]
        if node.get("Index Name"):
            name += f" {node['Index Name']}"
        elif node.get("Relation Name"):
            name += f" {node['Relation Name']}"
        parts.append(name)
        children = node.get("Plans") or []
        node = max(children, key=lambda n: n.get("Actual Total Time", 0), default=None)
    return " > ".join(parts)


# ---- periodic tasks, transitions, PDFs, export, verify -----------------------------------------------------


def measure_tasks() -> list[dict[str, Any]]:
    """Each periodic task twice on today's data (the second run should find nothing to do), rolled back."""
    from backoffice.celery import app

    app.loader.import_default_modules()
    results = []
    for name in ("disputes.send_deadline_reminders", "disputes.escalate_overdue", "disputes.expire_past_due",
                 "invoices.check_extensions", "refunds.sweep_processing", "notifications.deliver_outbox"):
        task = app.tasks.get(name)
        if task is None:
            results.append({"task": name, "error": "not registered"})
            continue
        runs = []
        try:
            with transaction.atomic():
                for _ in range(2):
                    with CaptureQueriesContext(connection) as ctx:
                        started = time.perf_counter()
                        outcome = task.run()
                        elapsed = time.perf_counter() - started
                    runs.append({"seconds": elapsed, "queries": len(ctx.captured_queries),
                                 "result": outcome if isinstance(outcome, int | dict) else str(outcome)})
                raise _Rollback
        except _Rollback:
            pass
        results.append({"task": name, "runs": runs})
        _log(f"task {name}: {runs}")
    return results


class _Rollback(Exception):
    pass


def measure_transitions(*, per_worker: int, worker_counts=(1, 2, 4)) -> list[dict[str, Any]]:
    """Journaled transitions per second with N processes, each on its own cases."""
    results = []
    for kind in ("claim", "accept", "approve"):
        for workers in worker_counts:
            ids = _transition_candidates(kind, workers * per_worker)
            if len(ids) < workers * per_worker:
                results.append({"kind": kind, "workers": workers, "error": f"only {len(ids)} candidate cases"})
                continue
            chunks = [ids[i::workers] for i in range(workers)]
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            started = time.perf_counter()
            procs = [subprocess.Popen([sys.executable, "-m", "bench.transitions_worker", kind, ",".join(map(str, c))],
                                      cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True) for c in chunks]
            outputs = []
            for proc in procs:
                lines = proc.communicate()[0].strip().splitlines()
                outputs.append(json.loads(lines[-1]) if proc.returncode == 0 and lines else
                               {"done": 0, "failed": 0, "seconds": 0.0, "crashed": proc.returncode})
            if any("crashed" in o for o in outputs):
                results.append({"kind": kind, "workers": workers, "error": "a worker process crashed (see stderr)"})
                continue
            wall = time.perf_counter() - started
            done = sum(o["done"] for o in outputs)
            busy = max(o["seconds"] for o in outputs)
            results.append({"kind": kind, "workers": workers, "done": done, "failed": sum(o["failed"] for o in outputs),
                            "per_second": done / busy if busy else 0.0, "wall_seconds": wall})
            _log(f"transitions {kind} x{workers}: {results[-1]}")
    return results


def _transition_candidates(kind: str, count: int) -> list[int]:
    if kind == "claim":
        sql = ("SELECT id FROM disputes_dispute WHERE state = 'needs_response' AND assignee_id IS NULL "
               "ORDER BY id DESC LIMIT %s")
    elif kind == "accept":
        sql = "SELECT id FROM disputes_dispute WHERE state = 'needs_response' ORDER BY id LIMIT %s"
    else:
        sql = ("SELECT r.id FROM refunds_refund r JOIN roles_approvallimit l ON l.role = 'team_lead' "
               "AND l.action = 'refund_approve' AND l.currency = r.currency "
               "WHERE r.state = 'pending_approval' AND r.amount_minor <= l.\"limit\" ORDER BY r.id LIMIT %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [count])
        return [row[0] for row in cursor.fetchall()]


def measure_pdfs() -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile

    from disputes.models import Dispute, EvidenceItem
    from disputes.packet import dispute_packet_pdf
    from disputes.services import evidence_add
    from refunds.credit_note import credit_note_pdf
    from refunds.models import Refund

    spec = get_user_model().objects.get(username="spec01")
    dispute = Dispute.objects.filter(state="needs_response").order_by("id").first()
    have = EvidenceItem.objects.filter(dispute=dispute).count()
    png = _png_bytes()
    kinds = ["usage_logs", "customer_communication", "proof_of_delivery", "terms_of_service", "invoice",
             "device_ip_history", "avs_cvv_result", "three_d_secure", "prior_undisputed_transactions", "other"]
    for i in range(have, 10):
        upload = SimpleUploadedFile(f"evidence-{i}.png", png, content_type="image/png") if i % 2 else None
        evidence_add(dispute_id=dispute.pk, actor=spec, kind=kinds[i], text=f"Evidence {i}: " + "usage " * 80,
                     upload=upload)
    dispute.refresh_from_db()
    packet = []
    for _ in range(5):
        started = time.perf_counter()
        dispute_packet_pdf(dispute=dispute, preview=True)
        packet.append((time.perf_counter() - started) * 1000)
    refund = Refund.objects.filter(state="succeeded").select_related("payment__invoice__customer").first()
    credit = []
    for _ in range(5):
        started = time.perf_counter()
        credit_note_pdf(refund=refund)
        credit.append((time.perf_counter() - started) * 1000)
    return {"packet_ms": packet, "credit_note_ms": credit, "items": 10}


def _png_bytes() -> bytes:
    import struct
    import zlib

    width = height = 64
    raw = b"".join(b"\x00" + b"".join(bytes((x * 4 % 256, y * 4 % 256, 128)) for x in range(width))
                   for y in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def measure_export(*, rows: int) -> dict[str, Any]:
    """The audit CSV export of about ``rows`` rows (through the page, in a child process to read its memory),
    beside PostgreSQL's own COPY of the same rows."""
    since = _value("SELECT created_at FROM journal_journalentry ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1",
                   [rows - 1])
    if since is None:
        since = _value("SELECT min(created_at) FROM journal_journalentry")
    since_text = since.isoformat()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "bench.export_probe", since_text], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=False)
    try:
        probe = json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        probe = {"error": (out.stderr or out.stdout)[-2000:]}
    started = time.perf_counter()
    copied = 0
    with connection.cursor() as cursor:
        sql = ("COPY (SELECT created_at, case_type, case_reference, case_id, seq, transition, source_state, "
               "target_state, actor_label, reason, context, prev_hash, hash FROM journal_journalentry "
               f"WHERE created_at >= '{since_text}' ORDER BY created_at DESC, id DESC) TO STDOUT WITH (FORMAT csv)")
        with cursor.connection.cursor().copy(sql) as copy:
            for block in copy:
                copied += len(block)
    probe["copy_seconds"] = time.perf_counter() - started
    probe["copy_bytes"] = copied
    probe["since"] = since_text
    _log(f"export: {probe}")
    return probe


def measure_verify() -> dict[str, Any]:
    import resource

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "manage.py", "verify_journal"], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=False)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    rows = _value("SELECT count(*) FROM journal_journalentry")
    result = {"seconds": elapsed, "exit": out.returncode, "rows": rows, "peak_rss_mb": max(peak, before) / 1024,
              "tail": (out.stdout + out.stderr).strip().splitlines()[-3:]}
    _log(f"verify_journal: {result}")
    return result
