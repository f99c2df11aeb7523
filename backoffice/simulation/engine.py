"""A simulated year of operations on a frozen clock: disputes and refunds through the real services,
the real periodic tasks through the real scheduler on every step, and faults injected on purpose.

The clock starts at ``Config.start`` and advances in steps of ``step_hours``. Between two steps the
simulation plays what people and the PSP do (disputes arriving with realistic due dates, inquiries
turning into chargebacks, deadlines moved by the PSP, assignments, responses, concessions, wins,
losses, reopenings at pre-arbitration and arbitration, refunds requested and approved), each at its
own moment. On each step it then runs every enabled schedule that is due (as beat would: those of a
few minutes on every step, a daily one once a simulated day) through ``Scheduler.run_now``:
in-process, or through the broker on a real Celery worker (prefork, ``acks_late``) during the worker
phase. Before each round it writes down what the tasks must do at that moment (the oracle); at the
end it compares that with what happened.

Faults: a worker process killed in the middle of a task, the broker unreachable for some simulated
hours, the mail server down for a while, the database session terminated once just before a task runs
(the worker's session when that step runs through the worker, else this process's).
"""

from __future__ import annotations

import heapq
import logging
import os
import random
import signal
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

logger = logging.getLogger("backoffice.simulation")

# The simulation's own waits and timings use real time. Kept in a dict: freezegun replaces module
# attributes that are the real time functions while the clock is frozen, but not values in a dict.
_REAL = {"monotonic": time.monotonic}


def real_monotonic() -> float:
    return _REAL["monotonic"]()


FREEZE_IGNORE = ["celery", "kombu", "billiard", "redis", "amqp", "vine", "click"]
REMINDER_STATES = ("inquiry", "needs_response")
ASYNC_COMMIT = "-c synchronous_commit=off"
CURRENCIES = ("USD", "EUR", "GBP")
NETWORKS = ("visa", "mastercard", "amex", "discover")


@dataclass
class Config:
    disputes: int = 10_000
    days: int = 365
    step_hours: float = 4.0
    tail_days: int = 80  # after the last arrival, until every deadline has passed
    refunds: int | None = None  # default: a fifth of the disputes
    seed: int = 20260101
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC)
    packets: int = 20  # submissions with a rendered evidence packet (the rest are conceded or answered at the PSP)
    worker: bool = True  # run a real Celery worker on Redis (needs REDIS_URL)
    worker_steps: int | None = None  # None: every step through the worker; N: a window of N steps
    kill_worker: bool = True
    broker_outage_hours: float = 6.0
    smtp_outage_hours: float = 24.0
    drop_database_connection: bool = True
    progress: Callable[[str], None] | None = None


@dataclass
class Report:
    """What happened, and what should have; ``problems`` lists every assertion that failed."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)

    def add(self, line: str) -> None:
        self.lines.append(line)

    def check(self, ok: bool, what: str) -> None:
        self.add(f"  [{'ok' if ok else 'FAIL'}] {what}")
        if not ok:
            self.problems.append(what)

    def text(self) -> str:
        return "\n".join(self.lines)


class Clock:
    """The simulated now: freezegun in this process, and the same moment published for the worker."""

    def __init__(self, start: datetime, state: Any | None):
        from freezegun import freeze_time

        self.state = state
        self.freezer = freeze_time(start, ignore=FREEZE_IGNORE)
        self.frozen = self.freezer.start()
        self.now = start
        self.publish = False

    def move_to(self, moment: datetime) -> None:
        if moment < self.now:
            moment = self.now
        self.now = moment
        self.frozen.move_to(moment)
        if self.publish and self.state is not None:
            self.state.set_now(moment)

    def stop(self) -> None:
        self.freezer.stop()


class Worker:
    """A real Celery worker (prefork, one child) on its own queue, reaching Redis through the proxy."""

    def __init__(self, *, broker_url: str, queue: str, env: dict[str, str]):
        import subprocess
        import sys
        import tempfile

        self.queue = queue
        self.log = tempfile.NamedTemporaryFile(prefix="bo-sim-worker-", suffix=".log", delete=False)  # noqa: SIM115
        worker_env = {**env, "REDIS_URL": broker_url, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "backoffice", "worker", "-Q", queue, "-n", f"{queue}@localhost",
             "--pool=prefork", "--concurrency=1", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--include=backoffice.simulation.worker_hooks", "-l", "INFO"],
            cwd=settings.BASE_DIR, env=worker_env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def output(self) -> str:
        with open(self.log.name, errors="replace") as handle:
            return handle.read()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except Exception:  # noqa: BLE001 - any failure to stop politely ends in SIGKILL
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()
        os.unlink(self.log.name)


class Simulation:
    def __init__(self, config: Config):
        self.config = config
        self.rng = random.Random(config.seed)
        self.run_id = uuid.uuid4().hex[:10]
        self.events: list[tuple[datetime, int, str, tuple]] = []
        self._seq = 0
        self.report = Report()
        # the oracle
        self.reminders_allowed: set[tuple[int, datetime, int]] = set()
        self.reminders_required: set[tuple[int, datetime, int]] = set()
        self.escalations_allowed: set[tuple[int, datetime]] = set()
        self.escalations_required: set[tuple[int, datetime]] = set()
        self.expiries_required: set[int] = set()
        self.expiries_allowed: set[int] = set()
        self.fates: Counter[str] = Counter()
        self.approved_refunds: set[int] = set()
        self.user_refusals: Counter[str] = Counter()
        self.rounds = Counter()
        self.last_sent: dict[str, datetime] = {}  # schedule name -> the simulated moment it was last sent
        self.faults: list[str] = []
        self.packets_left = config.packets
        self.state = None
        self.proxy = None
        self.worker: Worker | None = None
        self.db_drop_armed = False
        self.db_drop: dict[str, Any] | None = None  # task, moment, pid, where, lost, failures, recovered

    # ------------------------------------------------------------ set-up

    def say(self, text: str) -> None:
        logger.info("simulation %s", text)
        if self.config.progress:
            self.config.progress(text)

    def schedule(self, at: datetime, action: str, *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self.events, (at, self._seq, action, args))

    def days(self, low: float, high: float) -> timedelta:
        return timedelta(seconds=self.rng.uniform(low, high) * 86400)

    def people(self) -> None:
        User = get_user_model()
        self.specialists, self.leads = [], []
        for role, count, bucket in (("billing_specialist", 4, self.specialists), ("team_lead", 2, self.leads)):
            group = Group.objects.get(name=role)
            for i in range(1, count + 1):
                user, _ = User.objects.get_or_create(
                    username=f"sim-{role.split('_')[-1]}-{i}", defaults={"email": f"sim-{role}-{i}@ops.example"})
                user.groups.add(group)
                bucket.append(user)

    def ledger(self, count: int) -> list[Any]:
        """Card payments to dispute or refund (the ledger is imported data: written in bulk, like the demo's)."""
        from invoices.models import Customer, Invoice, Payment

        start = self.config.start
        customers = Customer.objects.bulk_create([
            Customer(name=f"Simulated customer {i}", email=f"billing{i}@customer.example", country="US",
                     default_currency=CURRENCIES[i % len(CURRENCIES)], external_id=f"sim-{self.run_id}-{i}")
            for i in range(max(1, count // 40))
        ])
        invoices, payments = [], []
        for i in range(count):
            customer = customers[i % len(customers)]
            amount = self.rng.randint(30, 2000) * 100 + self.rng.randint(0, 99)
            issued = start - timedelta(days=60) + self.days(0, self.config.days)
            invoices.append(Invoice(customer=customer, number=f"SIM-{self.run_id}-{i:06d}", status="paid",
                                    currency=customer.default_currency, amount_minor=amount, issued_at=issued,
                                    due_at=issued + timedelta(days=30), paid_at=issued + timedelta(days=3)))
        Invoice.objects.bulk_create(invoices, batch_size=2000)
        for i, invoice in enumerate(invoices):
            payments.append(Payment(invoice=invoice, customer_id=invoice.customer_id, psp="stripe",
                                    psp_reference=f"ch_sim_{self.run_id}_{i:06d}", method="card",
                                    network=NETWORKS[i % len(NETWORKS)], card_last4=f"{4000 + i % 1000:04d}",
                                    amount_minor=invoice.amount_minor, currency=invoice.currency,
                                    captured_at=invoice.paid_at))
        return Payment.objects.bulk_create(payments, batch_size=2000)

    # ------------------------------------------------------------ what people and the PSP do

    def plan(self) -> None:
        from disputes.models import ReasonCode

        config = self.config
        self.codes = defaultdict(list)
        for code in ReasonCode.objects.exclude(network="other"):
            self.codes[code.network].append(code)
        refunds = config.refunds if config.refunds is not None else config.disputes // 5
        payments = self.ledger(config.disputes + refunds)
        self.rng.shuffle(payments)
        span = config.days * 86400
        for i, payment in enumerate(payments[:config.disputes]):
            self.schedule(config.start + timedelta(seconds=self.rng.uniform(0, span)), "arrive", i, payment)
        for payment in payments[config.disputes:]:
            self.schedule(config.start + timedelta(seconds=self.rng.uniform(0, span)), "refund", payment)

    def psp_due(self, moment: datetime) -> datetime | None:
        """The PSP's response deadline: usually given (7–21 days), else the network's window (None)."""
        if self.rng.random() < 0.7:
            return (moment + self.days(7, 21)).replace(minute=0, second=0, microsecond=0)
        return None

    def on_arrive(self, i: int, payment: Any) -> None:
        from backoffice.actors import WEBHOOK_STRIPE
        from disputes.services import dispute_create

        inquiry = self.rng.random() < 0.12
        code = self.rng.choice(self.codes[payment.network])
        dispute = dispute_create(
            actor=WEBHOOK_STRIPE, payment=payment.pk, amount_minor=payment.amount_minor, currency=payment.currency,
            network=payment.network, reason_code=code, psp="stripe", psp_dispute_id=f"dp_sim_{self.run_id}_{i}",
            due_at=self.psp_due(self.now), stage="inquiry" if inquiry else "chargeback",
        )
        if self.rng.random() < 0.65:
            self.schedule(self.now + self.days(0.05, 1.5), "assign", dispute.pk)
        if inquiry:
            self.schedule(min(dispute.due_at - timedelta(hours=3), self.now + self.days(1, 6)), "inquiry_outcome",
                          dispute.pk)
        else:
            self.cycle(dispute)

    def cycle(self, dispute: Any) -> None:
        """A dispute needs a response by ``due_at``: decide what happens in this cycle."""
        now, internal, due = self.now, dispute.internal_due_at, dispute.due_at
        roll = self.rng.random()
        if roll < 0.12 and internal - now > timedelta(days=2):
            self.schedule(now + (internal - now) * self.rng.uniform(0.2, 0.8), "move_deadline", dispute.pk)
            return  # a new cycle is decided when the deadline moves
        roll = self.rng.random()
        if roll < 0.50:
            at = max(now + timedelta(hours=1), internal - self.days(0.1, 6))
            self.schedule(min(at, due - timedelta(hours=2)), "respond", dispute.pk)
        elif roll < 0.62:
            self.schedule(internal + (due - internal) * self.rng.uniform(0.3, 0.9), "concede", dispute.pk)
            self.fates["conceded after escalation"] += 1
        else:
            self.fates["left to expire"] += 1

    def on_assign(self, dispute_id: int) -> None:
        from backoffice.cases.services import case_assign
        from disputes.models import Dispute

        case_assign(model=Dispute, pk=dispute_id, actor=self.rng.choice(self.leads),
                    assignee_id=self.rng.choice(self.specialists).pk)

    def on_inquiry_outcome(self, dispute_id: int) -> None:
        from backoffice.actors import WEBHOOK_STRIPE
        from disputes.services import dispute_close_inquiry, dispute_open_chargeback

        if self.rng.random() < 0.35:
            dispute_close_inquiry(dispute_id=dispute_id, actor=WEBHOOK_STRIPE, reason="inquiry answered")
            self.fates["inquiry closed"] += 1
            return
        dispute = dispute_open_chargeback(dispute_id=dispute_id, actor=WEBHOOK_STRIPE, reason="became a chargeback",
                                          due_at=self.now + self.days(8, 21))
        self.fates["inquiry became a chargeback (new deadline)"] += 1
        self.cycle(dispute)

    def on_move_deadline(self, dispute_id: int) -> None:
        from backoffice.actors import WEBHOOK_STRIPE
        from disputes.models import Dispute
        from disputes.services import dispute_move_deadline

        current = Dispute.objects.get(pk=dispute_id)
        dispute = dispute_move_deadline(dispute_id=dispute_id, due_at=current.due_at + self.days(2, 10),
                                        actor=WEBHOOK_STRIPE, reason="the PSP extended the response window")
        self.fates["deadline moved by the PSP"] += 1
        self.cycle(dispute)

    def on_respond(self, dispute_id: int) -> None:
        from disputes.models import Dispute
        from disputes.services import dispute_accept

        dispute = Dispute.objects.select_related("reason_code").get(pk=dispute_id)
        if self.packets_left > 0 and dispute.stage != "arbitration":
            self.packets_left -= 1
            self.submit_with_packet(dispute)
            self.fates["evidence submitted (packet)"] += 1
            self.schedule(self.now + self.days(15, 45), "resolve", dispute_id)
            return
        if self.rng.random() < 0.6 and self.psp_submit(dispute):
            self.fates["evidence submitted at the PSP"] += 1
            self.schedule(self.now + self.days(15, 45), "resolve", dispute_id)
            return
        dispute_accept(dispute_id=dispute_id, actor=self.rng.choice(self.leads), reason="not worth contesting")
        self.fates["conceded in time"] += 1

    def submit_with_packet(self, dispute: Any) -> None:
        from disputes.models import Requirement
        from disputes.services import dispute_submit_evidence, evidence_add

        specialist = dispute.assignee or self.rng.choice(self.specialists)
        for text in dispute.reason_code.required_evidence:
            kind = Requirement.parse(text).kinds[0]
            evidence_add(dispute_id=dispute.pk, actor=specialist, kind=kind,
                         text=f"{kind}: usage 731.25 GPU-hours, 12,400 API calls, 38 logins.")
        dispute_submit_evidence(dispute_id=dispute.pk, actor=specialist, reason="evidence complete")

    def psp_submit(self, dispute: Any) -> bool:
        """The response sent from the PSP's dashboard, reported by the PSP (no packet built here)."""
        try:
            from disputes.psp import PspDispute, dispute_from_psp
        except ImportError:
            return False
        from backoffice.actors import WEBHOOK_STRIPE

        dispute_from_psp(reported=PspDispute(
            psp="stripe", psp_dispute_id=dispute.psp_dispute_id, amount_minor=dispute.amount_minor,
            currency=dispute.currency, network=dispute.network, reason_code=dispute.reason_code.code,
            state="under_review", stage=dispute.stage, due_at=dispute.due_at,
        ), payment=dispute.payment, actor=WEBHOOK_STRIPE, reason="response submitted at the PSP")
        return True

    def on_concede(self, dispute_id: int) -> None:
        from disputes.services import dispute_accept

        dispute_accept(dispute_id=dispute_id, actor=self.rng.choice(self.leads), reason="overdue: conceded")

    def on_resolve(self, dispute_id: int) -> None:
        from backoffice.actors import WEBHOOK_STRIPE
        from disputes.models import Dispute
        from disputes.services import dispute_mark_lost, dispute_mark_won

        won = self.rng.random() < 0.55
        (dispute_mark_won if won else dispute_mark_lost)(dispute_id=dispute_id, actor=WEBHOOK_STRIPE,
                                                        reason="the issuer decided")
        stage = Dispute.objects.values_list("stage", flat=True).get(pk=dispute_id)
        if stage != "arbitration" and self.rng.random() < 0.3:
            self.schedule(self.now + self.days(3, 10), "reopen", dispute_id)

    def on_reopen(self, dispute_id: int) -> None:
        from backoffice.actors import WEBHOOK_STRIPE
        from disputes.services import dispute_reopen

        dispute = dispute_reopen(dispute_id=dispute_id, actor=WEBHOOK_STRIPE, reason="the issuer came back",
                                 due_at=self.now + self.days(10, 20))
        self.fates[f"reopened at {dispute.stage}"] += 1
        self.cycle(dispute)

    def on_refund(self, payment: Any) -> None:
        from refunds.services import refund_request

        # the sandbox PSP's special endings: a decline, a lost answer, pending then settled, pending then failed
        ending = self.rng.choice([self.rng.randint(0, 99)] * 17 + [13, 57, 66, 67])
        amount = min(payment.amount_minor, self.rng.randint(5, 900) * 100 + ending)
        refund = refund_request(payment=payment, requester=self.rng.choice(self.specialists), amount_minor=amount,
                                reason="billing_error", note="Charged for unused reserved capacity.")
        self.schedule(self.now + self.days(0.02, 1.2), "decide_refund", refund.pk)

    def on_decide_refund(self, refund_id: int) -> None:
        from refunds.models import Refund, RefundApproval
        from refunds.services import refund_approve, refund_reject

        refund = Refund.objects.get(pk=refund_id)
        decided = set(RefundApproval.objects.filter(refund=refund).values_list("approver_id", flat=True))
        lead = self.rng.choice([lead for lead in self.leads if lead.pk not in decided])
        if not decided and self.rng.random() < 0.1:
            refund_reject(refund=refund, actor=lead, reason="outside the refund policy")
            return
        refund = refund_approve(refund=refund, actor=lead, reason="confirmed with the customer")
        if refund.state == "pending_second_approval":  # above the dual-approval threshold: the other lead
            self.schedule(self.now + self.days(0.02, 0.8), "decide_refund", refund_id)
            return
        self.approved_refunds.add(refund_id)

    def play_until(self, moment: datetime) -> int:
        from backoffice.errors import DomainError

        played = 0
        while self.events and self.events[0][0] <= moment:
            at, _, action, args = heapq.heappop(self.events)
            self.clock.move_to(at)
            try:
                getattr(self, f"on_{action}")(*args)
            except DomainError as err:  # a person's action refused (e.g. the case changed): counted, not fatal
                self.user_refusals[f"{action}: {err.code}"] += 1
            played += 1
        return played

    @property
    def now(self) -> datetime:
        return self.clock.now

    # ------------------------------------------------------------ the oracle

    def expect(self, moment: datetime) -> dict[str, set]:
        """What the scans must do at ``moment`` (independent of the code under test: plain windows)."""
        from disputes.models import Dispute

        offsets = sorted({int(o) for o in settings.DISPUTE_REMINDER_OFFSETS_DAYS if int(o) > 0}, reverse=True)
        reminders = set()
        rows = Dispute.objects.filter(state__in=REMINDER_STATES, internal_due_at__gt=moment,
                                      internal_due_at__lte=moment + timedelta(days=offsets[0]))
        for pk, due in rows.values_list("pk", "internal_due_at"):
            left = due - moment
            window = [o for o in offsets if left <= timedelta(days=o)]
            reminders.add((pk, due, window[-1]))
        escalations = set(Dispute.objects.filter(state="needs_response", internal_due_at__lt=moment)
                          .values_list("pk", "internal_due_at"))
        expiries = set(Dispute.objects.filter(state="needs_response", due_at__lt=moment).values_list("pk", flat=True))
        return {"reminders": reminders, "escalations": escalations, "expiries": expiries}

    def observe(self, expected: dict[str, set], done: dict[str, bool]) -> None:
        """A round ran: what was due is allowed; what was due for a task that succeeded is required."""
        self.reminders_allowed |= expected["reminders"]
        self.escalations_allowed |= expected["escalations"]
        self.expiries_allowed |= expected["expiries"]
        if done.get("disputes.send_deadline_reminders"):
            self.reminders_required |= expected["reminders"]
        if done.get("disputes.escalate_overdue"):
            self.escalations_required |= expected["escalations"]
        if done.get("disputes.expire_past_due"):
            self.expiries_required |= expected["expiries"]

    # ------------------------------------------------------------ the periodic tasks

    def round(self, scheduler: Any, moment: datetime, *, via_worker: bool) -> dict[str, bool]:
        """Every enabled schedule once at ``moment``; which tasks succeeded at it."""
        from backoffice.notifications.models import TaskRunStatus

        due = self.due_schedules(scheduler, moment)
        before = dict(TaskRunStatus.objects.values_list("task", "runs")) if via_worker else {}
        target = self.arm_db_drop(scheduler, due, via_worker=via_worker)
        sent = set(scheduler.run_now(due))
        scheduler.ran.clear()
        if via_worker:
            names = {e.task for e in due.values() if e.name in sent}
            self.wait_for_worker(names, before)
        done = dict(TaskRunStatus.objects.values_list("task", "last_succeeded_at"))
        result = {e.task: done.get(e.task) == moment for e in due.values()}
        self.db_drop_outcome(scheduler, target, moment, result, via_worker=via_worker)
        self.rounds["rounds"] += 1
        self.rounds["tasks that did not run or failed"] += sum(1 for ok in result.values() if not ok)
        return result

    def arm_db_drop(self, scheduler: Any, due: dict[str, Any], *, via_worker: bool) -> str | None:
        """When the drop is planned, the task it hits: the first to run this round. Through the worker, the
        worker terminates its own session just before running it; in-process, the scheduler does."""
        from backoffice.notifications.models import TaskRunStatus

        if not self.db_drop_armed or not due:
            return None
        target = due[sorted(due)[0]].task
        self.db_drop_failures = TaskRunStatus.objects.filter(task=target).values_list("failures", flat=True).first()
        if via_worker:
            self.state.arm_db_drop(target)
        else:
            scheduler.drop_before_next_task = True
        return target

    def db_drop_outcome(self, scheduler: Any, target: str | None, moment: datetime, result: dict[str, bool], *,
                        via_worker: bool) -> None:
        """Note the drop once it happened (else it stays armed for the next round), and when its task next
        succeeded."""
        from backoffice.notifications.models import TaskRunStatus

        drop = self.db_drop
        if drop is not None and drop["recovered"] is None and result.get(drop["task"]) and moment > drop["moment"]:
            drop["recovered"] = moment
        if target is None:
            return
        if via_worker:
            dropped = self.state.db_dropped()
            self.state.disarm_db_drop()
            pid, where = (dropped or {}).get("pid"), "the worker's database session"
        else:
            scheduler.drop_before_next_task = False
            pid, where = getattr(scheduler, "dropped_pid", None), "the database session"
        if pid is None:
            return  # not sent (the broker was down): the next round tries again
        self.db_drop_armed = False
        failures = TaskRunStatus.objects.filter(task=target).values_list("failures", flat=True).first()
        self.db_drop = {"task": target, "moment": moment, "pid": pid, "lost": not result.get(target),
                        "failures": (failures or 0) - (self.db_drop_failures or 0), "recovered": None}
        self.faults.append(f"{moment:%Y-%m-%d %H:%M}: {where} ({pid}) terminated just before {target} ran")

    def due_schedules(self, scheduler: Any, moment: datetime) -> dict[str, Any]:
        """The enabled schedules due at ``moment``, as beat decides: one that has never run, or whose interval
        has passed since it was last sent (those of a few minutes run on every step, a daily one once a
        simulated day). Each is stamped as sent at ``moment``, whether or not the send or the run succeeds."""
        from backoffice.scheduling import schedule_period

        due = {}
        for name, entry in scheduler.schedule.items():
            period, last = schedule_period(entry.model), self.last_sent.get(name)
            if last is None or (period is not None and moment - last >= period):
                due[name] = entry
                self.last_sent[name] = moment
        return due

    def wait_for_worker(self, names: set[str], before: dict[str, int], timeout: float = 180.0) -> None:
        from backoffice.notifications.models import TaskRunStatus

        deadline = real_monotonic() + timeout
        killed = False
        while real_monotonic() < deadline:
            if self.kill_pending and not killed:
                stalled = self.state.stalled()
                if stalled:
                    os.kill(stalled["pid"], signal.SIGKILL)
                    self.state.flag("smtp_stall", False)
                    self.kill_pending = False
                    killed = True
                    self.faults.append(f"{self.now:%Y-%m-%d %H:%M}: worker process {stalled['pid']} killed (SIGKILL) "
                                       "while sending an e-mail inside a task; the task was redelivered and ran again")
            runs = dict(TaskRunStatus.objects.filter(task__in=names).values_list("task", "runs"))
            if all(runs.get(n, 0) > before.get(n, 0) for n in names):
                return
            if not self.worker.alive():
                raise RuntimeError(f"the Celery worker exited:\n{self.worker.output()[-3000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"the worker did not finish {sorted(names)} within {timeout:.0f} s:\n"
                           f"{self.worker.output()[-3000:]}")

    def scheduler(self, app: Any) -> Any:
        """The product's scheduler, with one fault hook: drop the database session before the next task."""
        from backoffice.scheduling import Scheduler
        from backoffice.simulation.faults import terminate_session

        class SimulationScheduler(Scheduler):
            drop_before_next_task = False
            dropped_pid: int | None = None

            def sync(self) -> None:
                """``last_run_at`` is written when the simulation ends, not after every simulated round
                (the tasks' own status rows are what the simulation reads)."""

            def close(self) -> None:
                Scheduler.sync(self)
                super().close()

            @property
            def schedule(self) -> dict[str, Any]:
                # django-celery-beat re-reads every row when its (frozen) clock says 5 minutes passed,
                # i.e. on every simulated step; edits are still noticed through PeriodicTasks.
                self._last_full_sync = datetime.now()
                return Scheduler.schedule.fget(self)

            def apply_entry(self, entry: Any, producer: Any = None) -> None:
                if self.drop_before_next_task:
                    self.drop_before_next_task = False
                    self.dropped_pid = terminate_session(connection)
                super().apply_entry(entry, producer=producer)

        return SimulationScheduler(app=app, kind="simulation")

    # ------------------------------------------------------------ the run

    def run(self) -> Report:
        from celery import current_app

        from backoffice.simulation.faults import ENV_QUEUE, ENV_REDIS, ENV_RUN, BrokerProxy, LocalMailSink, SimState

        config = self.config
        app = current_app._get_current_object()
        redis_url = os.environ.get("REDIS_URL") or getattr(settings, "REDIS_URL", "")
        use_worker = config.worker and bool(redis_url)
        if config.worker and not redis_url:
            self.report.add("No REDIS_URL: no Celery worker, no broker outage, no worker kill (in-process only).")
        if redis_url:
            os.environ[ENV_REDIS], os.environ[ENV_RUN] = redis_url, self.run_id
            self.state = SimState(redis_url, self.run_id)
        LocalMailSink.delivered = []
        settings.EMAIL_BACKEND = "backoffice.simulation.faults.SimulationMailBackend"
        connection.settings_dict["CONN_MAX_AGE"] = None  # persistent, as in production with DB_CONN_MAX_AGE
        # A simulation needs no durability across a server crash: commits without waiting for the disk
        # (same transactions, same locks and visibility), in this process and in the worker.
        connection.close()
        connection.settings_dict.setdefault("OPTIONS", {})["options"] = ASYNC_COMMIT
        saved_conf = (app.conf.task_always_eager, app.conf.task_default_queue, app.conf.broker_url)
        started = real_monotonic()
        self.clock = Clock(config.start - timedelta(days=1), self.state)
        try:
            with transaction.atomic():
                self.people()
                self.plan()
            self.say(f"planned {config.disputes} disputes and {len(self.events) - config.disputes} refunds over "
                     f"{config.days} days, steps of {config.step_hours:g} h")
            last_arrival = max(at for at, *_ in self.events)
            end = last_arrival + timedelta(days=config.tail_days)
            steps = int((end - config.start) / timedelta(hours=config.step_hours)) + 1
            window = range(0, steps) if config.worker_steps is None else range(
                steps // 2, steps // 2 + config.worker_steps)
            plan = self.fault_plan(steps, window, use_worker)
            if use_worker:
                self.proxy = BrokerProxy(redis_url)
                queue = f"sim-{self.run_id}"
                env = {**os.environ, ENV_REDIS: redis_url, ENV_RUN: self.run_id, ENV_QUEUE: queue,
                       "EMAIL_BACKEND": "backoffice.simulation.faults.SimulationMailBackend",
                       "DATABASE_URL": self.database_url()}
                self.worker = Worker(broker_url=self.proxy.url, queue=queue, env=env)
                self.use_broker(app, self.proxy.url)
                app.conf.task_default_queue = queue
            scheduler = self.scheduler(app)
            self.kill_pending = False
            smtp_until = broker_until = None
            # Start in-process with the clock unpublished, whatever the settings say (with REDIS_URL set
            # tasks are not eager): the first step through the worker then switches to the broker and
            # publishes the simulated moment, also when the worker's window starts at step 0 (the default).
            app.conf.task_always_eager = True
            self.clock.publish = False
            for step in range(steps):
                moment = config.start + step * timedelta(hours=config.step_hours)
                self.play_until(moment)
                self.clock.move_to(moment)
                via_worker = use_worker and step in window
                if via_worker != (not app.conf.task_always_eager):
                    app.conf.task_always_eager = not via_worker
                    self.clock.publish = via_worker
                    self.clock.move_to(moment)
                # faults
                if step == plan.get("smtp"):
                    smtp_until = moment + timedelta(hours=config.smtp_outage_hours)
                    self.set_smtp(True)
                    self.faults.append(f"{moment:%Y-%m-%d %H:%M}: mail server down for {config.smtp_outage_hours:g} h")
                if smtp_until and moment >= smtp_until:
                    self.set_smtp(False)
                    smtp_until = None
                if step == plan.get("broker"):
                    broker_until = moment + timedelta(hours=config.broker_outage_hours)
                    self.proxy.cut()
                    self.faults.append(f"{moment:%Y-%m-%d %H:%M}: broker unreachable for "
                                       f"{config.broker_outage_hours:g} h")
                if broker_until and moment >= broker_until:
                    self.proxy.restore()
                    broker_until = None
                if via_worker and plan.get("kill") is not None and step >= plan["kill"] and not self.kill_pending \
                        and not any("killed" in f for f in self.faults):
                    self.kill_pending = True
                    self.state.flag("smtp_stall", True)
                expected = self.expect(moment)
                if step == plan.get("db"):
                    self.db_drop_armed = True
                done = self.round(scheduler, moment, via_worker=via_worker)
                self.observe(expected, done)
                if self.kill_pending and not self.state.stalled():
                    self.state.flag("smtp_stall", False)  # nothing was sent this round: try at the next one
                    self.kill_pending = False
                if step % max(1, steps // 20) == 0:
                    self.say(f"{moment:%Y-%m-%d} step {step}/{steps}, {real_monotonic() - started:.0f} s")
            if self.state is not None:
                self.state.flag("smtp_stall", False)
            self.set_smtp(False)
            app.conf.task_always_eager = True
            self.clock.publish = False
            for extra in range(1, 4):  # the last e-mail retries and refund sweeps, in-process
                moment = end + timedelta(hours=config.step_hours * extra)
                self.clock.move_to(moment)
                expected = self.expect(moment)
                self.observe(expected, self.round(scheduler, moment, via_worker=False))
            scheduler.close()
            self.report.counts["seconds"] = round(real_monotonic() - started)
            self.report.counts["steps"] = steps
            self.verify(end)
        finally:
            app.conf.task_always_eager, app.conf.task_default_queue = saved_conf[:2]
            if self.proxy is not None:
                self.use_broker(app, saved_conf[2])
            if self.worker is not None:
                self.worker.stop()
            if self.proxy is not None:
                self.proxy.close()
            if self.state is not None:
                self.state.clear()
                if use_worker:  # the run's queue and its bindings
                    for key in self.state.redis.scan_iter(match=f"*sim-{self.run_id}*"):
                        self.state.redis.delete(key)
            self.clock.stop()
        return self.report

    def fault_plan(self, steps: int, window: range, use_worker: bool) -> dict[str, int]:
        config = self.config
        plan: dict[str, int] = {}
        if config.smtp_outage_hours > 0:
            plan["smtp"] = int(steps * 0.2)
        if config.drop_database_connection:
            # in-process when a step after the first 30 % runs in-process (the CI size), else through the worker
            candidates = [s for s in range(int(steps * 0.3), steps) if not (use_worker and s in window)]
            plan["db"] = candidates[0] if candidates else int(steps * 0.3)
        if use_worker and config.kill_worker:
            plan["kill"] = window.start + 1
        if use_worker and config.broker_outage_hours > 0:
            plan["broker"] = window.start + min(len(window) // 2, 4)
        return plan

    def set_smtp(self, down: bool) -> None:
        from backoffice.simulation.faults import LocalMailSink

        LocalMailSink.down = down
        if self.state is not None:
            self.state.flag("smtp_down", down)

    @staticmethod
    def use_broker(app: Any, url: str) -> None:
        """Publish to ``url`` from now on (the connection and producer pools are built from the URL)."""
        if getattr(app, "_pool", None) is not None:
            app._pool.force_close_all()
            app._pool = None
        if getattr(app.amqp, "_producer_pool", None) is not None:
            app.amqp._producer_pool = None
        app.conf.broker_url = url

    def database_url(self) -> str:
        from urllib.parse import quote

        db = connection.settings_dict
        password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
        return (f"postgres://{quote(db['USER'], safe='')}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
                f"/{db['NAME']}?options={quote(ASYNC_COMMIT, safe='')}")

    # ------------------------------------------------------------ the verdict

    def verify(self, end: datetime) -> None:
        from backoffice.gateway.models import SandboxRefund
        from backoffice.gateway.sandbox import DECLINES, SETTLES_FAILED, TIMEOUT_ONCE
        from backoffice.journal.models import JournalEntry
        from backoffice.notifications.models import CaseAlert, Notification, OutboxEmail
        from backoffice.simulation.faults import LocalMailSink
        from disputes.models import Dispute
        from refunds.models import Refund

        r, c = self.report, self.config
        total = Dispute.objects.count()
        r.add(f"Simulated {c.days} days + {c.tail_days} days of tail in {r.counts['steps']} steps of "
              f"{c.step_hours:g} h ({r.counts['seconds']} s): {total} disputes, {Refund.objects.count()} refunds.")
        r.add("What happened to the disputes: " + ", ".join(f"{k} {v}" for k, v in sorted(self.fates.items())))
        if self.user_refusals:
            r.add("People's actions refused by the services: "
                  + ", ".join(f"{k} ×{v}" for k, v in sorted(self.user_refusals.items())))
        r.add(f"Rounds of the periodic tasks: {self.rounds['rounds']} "
              f"({self.rounds['tasks that did not run or failed']} task runs lost to faults, redone later)")
        r.add("Faults injected:")
        for fault in self.faults:
            r.add(f"  - {fault}")
        if c.drop_database_connection:
            drop = self.db_drop
            r.add("Database drop:")
            r.check(drop is not None and drop["lost"] and drop["failures"] >= 1 and drop["recovered"] is not None,
                    f"the run of {drop['task']} failed on the terminated session and was recorded as a failure "
                    f"({drop['failures']}); the next round reconnected and it succeeded at "
                    f"{drop['recovered']:%Y-%m-%d %H:%M}" if drop is not None and drop["recovered"] is not None
                    else f"injected and recovered from: {drop}")

        alerts = list(CaseAlert.objects.values_list("pk", "kind", "case_id", "due_at", "offset_days", "recipients"))
        sent = {(case_id, due, offset) for _, kind, case_id, due, offset, _ in alerts if kind == "reminder"}
        missed = self.reminders_required - sent
        unexpected = sent - self.reminders_allowed
        r.add("Reminders:")
        r.check(not missed, f"due {len(self.reminders_required)}, sent {len(sent)}, missed {len(missed)}")
        r.check(not unexpected, f"sent outside a window that was open at a round: {len(unexpected)}")
        escalated = {(case_id, due) for _, kind, case_id, due, _o, _r in alerts if kind == "escalation"}
        journal_escalations = Counter(JournalEntry.objects.filter(transition="escalate")
                                      .values_list("case_id", flat=True))
        r.add("Escalations:")
        missing, unexpected = self.escalations_required - escalated, escalated - self.escalations_allowed
        r.check(not missing and not unexpected,
                f"overdue {len(self.escalations_required)}, escalated {len(escalated)} (missed {len(missing)}, "
                f"unexpected {len(unexpected)}); at most once per due date by the claim's unique constraint")
        per_dispute = Counter(case_id for case_id, _ in escalated)
        r.check(journal_escalations == per_dispute,
                "each escalation journaled exactly once with its claim "
                f"({sum(journal_escalations.values())} journal rows)")
        r.add("Expiry:")
        expired_rows = list(JournalEntry.objects.filter(transition="expire").values_list("case_id", "actor_label"))
        expired = Counter(case_id for case_id, _ in expired_rows)
        past_due_open = Dispute.objects.filter(state="needs_response", due_at__lt=end).count()
        r.check(self.expiries_required <= set(expired) <= self.expiries_allowed
                and all(n == 1 for n in expired.values()),
                f"past their network deadline {len(self.expiries_required)}, expired {len(expired)} "
                f"(missed {len(self.expiries_required - set(expired))}, twice "
                f"{sum(1 for n in expired.values() if n > 1)})")
        r.check({label for _, label in expired_rows} <= {"system:celery"}, "every expiry by system:celery")
        r.check(past_due_open == 0, f"still needing a response after the deadline: {past_due_open}")
        r.add("Notifications and e-mail:")
        # every kind of alert the tasks claimed (reminders, escalations, and e.g. the daily anomaly check's)
        kinds = Counter(kind for _, kind, *_rest in alerts)
        expected_notes = sum(len(recipients) for *_rest, recipients in alerts)
        notes = Notification.objects.filter(kind__in=set(kinds)).count()
        r.check(notes == expected_notes, f"in-app notifications {notes} for {len(alerts)} alerts "
                                         f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}; "
                                         f"expected {expected_notes})")
        delivered = self.state.delivered_mail() if self.state is not None else LocalMailSink.delivered
        per_alert = Counter(item["alert"] for item in delivered)
        with_mail = set(OutboxEmail.objects.filter(alert__isnull=False).values_list("alert_id", flat=True))
        unsent = OutboxEmail.objects.filter(sent_at__isnull=True).count()
        r.check(set(per_alert) == {str(pk) for pk in with_mail} and unsent == 0,
                f"e-mails delivered for {len(per_alert)} of {len(with_mail)} alerts; unsent {unsent}")
        r.check(all(n == 1 for n in per_alert.values()),
                f"e-mails delivered twice: {sum(1 for n in per_alert.values() if n > 1)}")
        r.add("Refunds:")
        refunds = list(Refund.objects.filter(pk__in=self.approved_refunds).values_list("pk", "state", "reference",
                                                                                     "amount_minor"))
        psp = Counter(SandboxRefund.objects.values_list("idempotency_key", flat=True))
        submits = Counter(JournalEntry.objects.filter(case_type="refund", transition="submit")
                          .values_list("case_id", flat=True))
        not_final = [ref for _, state, ref, _a in refunds if state not in ("succeeded", "failed")]
        declined = {*DECLINES, SETTLES_FAILED}  # the sandbox PSP's failing amount endings
        wrongly_failed = [ref for _, state, ref, amount in refunds
                          if state == "failed" and amount % 100 not in declined]
        states = Counter(state for _, state, _r, _a in refunds)
        answers = list(SandboxRefund.objects.values_list("first_answer", "amount_minor"))
        r.add(f"  the sandbox PSP answered pending first for {sum(1 for a, _m in answers if a == 'pending')} (final "
              "only on a later status look-up) and lost its first answer for "
              f"{sum(1 for _a, m in answers if m % 100 == TIMEOUT_ONCE)} (sent again with the same key)")
        r.check(not not_final and not wrongly_failed,
                f"approved {len(refunds)}: succeeded {states['succeeded']}, declined by the PSP {states['failed']}, "
                f"not final {len(not_final)}, failed without a decline {len(wrongly_failed)}")
        r.check(all(submits.get(pk) == 1 for pk, *_x in refunds) and all(n == 1 for n in psp.values())
                and len(psp) == len(refunds),
                f"each submitted exactly once: {len(psp)} PSP refunds for {len(refunds)} approved "
                f"({sum(max(0, n - 1) for n in submits.values())} duplicate submissions)")
        r.add("Journal:")
        try:
            call_command("verify_journal", stdout=open(os.devnull, "w"), stderr=open(os.devnull, "w"))  # noqa: SIM115
            r.check(True, f"verify_journal: {JournalEntry.objects.count()} rows, every chain intact")
        except CommandError as err:
            r.check(False, f"verify_journal: {err}")
