"""``make bench`` — load the data set (once per scale) and measure everything; write docs/PERFORMANCE.md.

    make bench                 # full scale: 1M disputes, 1M refunds, 200k extensions, 2M payments, ~5M journal rows
    make bench SCALE=small     # 1/50 of that, a few minutes
    .venv/bin/python bench/run.py --scale small --reload --rounds 10 --skip verify

The data go into their own database (``BENCH_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/bo_bench`` for full scale, ``…/bo_bench_small`` otherwise).
It is loaded once and kept; new migrations (indexes) are applied to it on the next run; ``--reload``
drops and loads it again.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("pages", "tasks", "transitions", "pdfs", "export", "verify")


def _db_url(scale: str) -> str:
    if os.environ.get("BENCH_DATABASE_URL"):
        return os.environ["BENCH_DATABASE_URL"]
    return "postgres://postgres@127.0.0.1:5432/" + ("bo_bench" if scale == "full" else f"bo_bench_{scale}")


def _psql(url: str, sql: str) -> str:
    base, _, _name = url.rpartition("/")
    out = subprocess.run(["psql", f"{base}/postgres", "-Atc", sql], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _manage(*args: str, env: dict) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def prepare(scale: str, *, reload: bool, env: dict) -> dict:
    """Create, migrate and fill the bench database when needed; return what was done."""
    url = env["DATABASE_URL"]
    name = url.rpartition("/")[2]
    exists = _psql(url, f"SELECT 1 FROM pg_database WHERE datname = '{name}'") == "1"
    if exists and reload:
        _psql(url, f'DROP DATABASE "{name}" WITH (FORCE)')
        exists = False
    if not exists:
        _psql(url, f'CREATE DATABASE "{name}"')
    started = time.monotonic()
    _manage("migrate", "--noinput", "-v", "0", env=env)
    migrate_seconds = time.monotonic() - started
    loaded = subprocess.run(["psql", url, "-Atc", "SELECT count(*) FROM disputes_dispute"], capture_output=True,
                            text=True, check=True).stdout.strip()
    info = {"migrate_seconds": migrate_seconds, "loaded_now": False}
    if loaded == "0":
        started = time.monotonic()
        loaded = subprocess.run([sys.executable, "-c", (
            "import django, json; django.setup(); from bench.generate import Scale, load; "
            f"print('TIMINGS', json.dumps(load(Scale.named({scale!r}))))")], cwd=ROOT, env=env, check=False)
        if loaded.returncode:
            # A half-loaded database (indexes dropped for the load) must never be measured: start over next time.
            _psql(url, f'DROP DATABASE "{name}" WITH (FORCE)')
            raise SystemExit(f"loading the bench data failed (exit {loaded.returncode}); the database was dropped")
        info.update(loaded_now=True, load_seconds=time.monotonic() - started)
    return info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default=os.environ.get("SCALE") or "full", choices=["full", "small", "tiny"])
    parser.add_argument("--reload", action="store_true", help="drop the bench database and load it again")
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS") or 20))
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--probes", default="", help="only the pages whose group or label matches this regex")
    parser.add_argument("--skip", nargs="*", default=[], choices=SECTIONS)
    parser.add_argument("--only", nargs="*", default=[], choices=SECTIONS)
    parser.add_argument("--output", default=str(ROOT / "docs" / "PERFORMANCE.md"))
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "latest.json"))
    parser.add_argument("--merge", action="store_true",
                        help="keep the other sections of the last run (--json) and replace only those measured now")
    args = parser.parse_args()

    env = {**os.environ, "DATABASE_URL": _db_url(args.scale), "DJANGO_SETTINGS_MODULE": "bench.settings",
           "PYTHONPATH": str(ROOT)}
    env.pop("REDIS_URL", None)
    env.pop("DATABASE_REPLICA_URL", None)
    os.environ.update(env)
    os.environ.pop("REDIS_URL", None)
    os.environ.pop("DATABASE_REPLICA_URL", None)
    sections = [s for s in SECTIONS if (not args.only or s in args.only) and s not in args.skip]
    started_at = datetime.now(UTC)
    # The code measured is the code at the start (a commit made during a long run must not be credited).
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip())
    load_before = os.getloadavg()
    prep = prepare(args.scale, reload=args.reload, env=env)

    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from bench import measure, report

    results: dict = {"scale": args.scale, "prepare": prep, "sections": sections}
    if args.merge and Path(args.json).exists():
        previous = json.loads(Path(args.json).read_text())
        if previous.get("scale") == args.scale:
            kept = {k: v for k, v in previous.items() if k in ("probes", "tasks", "transitions", "pdfs", "export",
                                                                "verify")}
            results.update(kept)
            results["merged_from"] = previous.get("machine", {})
    sample = measure.sample_keys()
    results["sample"] = sample
    results["sizes"] = report.table_sizes()
    if "pages" in sections:
        # What insight.refresh_dashboard keeps fresh in production (every five minutes): the default dashboard.
        from backoffice.insight.kpis import summary_refresh

        refresh_started = time.monotonic()
        summary_refresh()
        results["prepare"]["dashboard_refresh_seconds"] = time.monotonic() - refresh_started
        items = measure.probes(sample)
        if args.probes:
            import re

            wanted = re.compile(args.probes)
            items = [p for p in items if wanted.search(f"{p.group} {p.label}")]
        measure.run_probes(items, rounds=args.rounds, warmup=args.warmup)
        results["probes"] = [report.probe_dict(p) for p in items]
    if "tasks" in sections:
        results["tasks"] = measure.measure_tasks()
    if "transitions" in sections:
        results["transitions"] = measure.measure_transitions(per_worker=150 if args.scale == "full" else 60)
    if "pdfs" in sections:
        results["pdfs"] = measure.measure_pdfs()
    if "export" in sections:
        results["export"] = measure.measure_export(rows=1_000_000 if args.scale == "full" else 20_000)
    if "verify" in sections:
        results["verify"] = measure.measure_verify()
    results["machine"] = {
        "started": started_at.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "dirty": dirty,
        "cpu": report.cpu_model(), "cores": os.cpu_count(), "memory_gb": report.memory_gb(),
        "python": platform.python_version(), "postgres": report.postgres_version(),
        "load_before": load_before, "load_after": os.getloadavg(),
        "command": "make bench" + ("" if args.scale == "full" else f" SCALE={args.scale}"),
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    Path(args.output).write_text(report.render(results))
    print(f"wrote {args.output} and {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
