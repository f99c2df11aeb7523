"""``manage.py simulate_operations`` at CI size, as a process: 2,000 disputes (and 100 refunds) arriving
over twenty simulated days plus forty days of tail, in steps of six hours, every due schedule run on each
step; a real Celery worker on Redis for a window of steps in which one worker process is killed mid-task
and the broker is unreachable for six simulated hours, the mail server down for a day and the database
session dropped once. Its own checks decide: exit 0 only when nothing was missed and nothing happened
twice."""

import re
import subprocess
import sys

import pytest

from tests.integration.processes import ROOT, product_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_a_simulated_season_with_faults_misses_nothing_and_does_nothing_twice():
    env = product_env(redis=True, LOG_LEVEL="ERROR", DEBUG="0")
    result = subprocess.run(
        [sys.executable, "manage.py", "simulate_operations", "--in-place", "--disputes", "2000", "--refunds", "100",
         "--days", "20", "--tail-days", "40", "--step-hours", "6", "--worker-steps", "8", "--packets", "2",
         "--broker-outage-hours", "6", "--smtp-outage-hours", "24"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,  # a guard against a hang, not a budget
    )
    report = result.stdout
    assert result.returncode == 0, f"{report}\n{result.stderr[-4000:]}"
    assert "Every check passed." in report
    assert ": 2000 disputes, 100 refunds" in report
    assert ", missed 0" in report and "e-mails delivered twice: 0" in report
    faults = report.split("Faults injected:")[1].split("Reminders:")[0]
    for fault in ("mail server down", "database session", "killed (SIGKILL)", "broker unreachable"):
        assert fault in faults, report
    assert "[FAIL]" not in report


def test_every_step_through_the_worker_as_the_full_size_run_does_runs_each_task_at_the_simulated_time():
    """The default of ``simulate_operations`` (a full-size run): every step through the Celery worker, from the
    first one. The worker must run each task at the simulated moment of its step (a worker left at real time
    escalates and expires everything at once), through the kill, the broker outage and its own database
    session terminated before a task. Refunds the sandbox PSP answers ``pending`` must end final: their status
    look-ups are sent by the sweeper inside the worker and must reach that worker's queue (sent to the default
    queue, which nobody consumed, they ended flagged "no final answer from the PSP"). Steps of 6 h, as at CI size:
    the sweeper must get a few looks within the 24 h give-up window around the broker outage (with 12 h steps an
    outage costs a whole step, and a refund left pending that long is rightly flagged)."""
    env = product_env(redis=True, LOG_LEVEL="ERROR", DEBUG="0")
    result = subprocess.run(
        [sys.executable, "manage.py", "simulate_operations", "--in-place", "--disputes", "30", "--refunds", "60",
         "--days", "3", "--tail-days", "12", "--step-hours", "6", "--packets", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,  # a guard against a hang, not a budget
    )
    report = result.stdout
    assert result.returncode == 0, f"{report}\n{result.stderr[-4000:]}"
    assert "Every check passed." in report and "[FAIL]" not in report
    assert "(0 task runs lost to faults" not in report  # the outage did cost runs, redone later
    faults = report.split("Faults injected:")[1].split("Reminders:")[0]
    for fault in ("mail server down", "killed (SIGKILL)", "broker unreachable", "the worker's database session"):
        assert fault in faults, report
    assert "failed on the terminated session and was recorded as a failure" in faults, report
    pending = re.search(r"answered pending first for (\d+)", report)
    assert pending and int(pending.group(1)) > 0, report  # the case under test happened
    assert ", not final 0," in report, report
