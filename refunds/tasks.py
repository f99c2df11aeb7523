"""Refund tasks: ids in, re-fetch, return quietly when there is nothing to do, call services.

``refunds.submit_refund`` is enqueued on commit after approval (and after a team lead's retry).
It takes the refund ``approved`` → ``processing`` in one transaction, calls the gateway outside
any transaction and row lock, then records the answer in another transaction. Only
``GatewayTransientError`` (unknown outcome: timeout, network, PSP 5xx) and ``ConcurrentChange``
(the payment was locked by someone else for longer than ``invoices.ledger.PAYMENT_LOCK_TIMEOUT_MS``)
are retried, with exponential backoff and the *same* idempotency key, so a timeout never becomes
two refunds.
After the last retry the refund stays ``processing`` for the sweeper.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import shared_task
from celery.exceptions import Retry
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from backoffice.errors import ConcurrentChange
from backoffice.gateway import GatewayTransientError, gateway_for
from backoffice.queueing import enqueue_now
from backoffice.scheduling import ScanResult, TimeBudget, batch_size

from .models import Refund, RefundState
from .services import refund_record_psp_result, refund_submission_start

logger = logging.getLogger("refunds.tasks")


@shared_task(
    bind=True,
    name="refunds.submit_refund",
    acks_late=True,
    autoretry_for=(GatewayTransientError, ConcurrentChange),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
)
def submit_refund(self, refund_id: int) -> str:
    request = refund_submission_start(refund_id=refund_id)
    if request is None:
        logger.info("submit_refund_nothing_to_do refund_id=%s", refund_id)
        return "nothing_to_do"
    gateway = gateway_for(request.psp)
    # Outside any transaction; GatewayTransientError → retry. A refund the PSP already named is never
    # created again: its status is looked up.
    result = gateway.retrieve(request) if request.psp_refund_id else gateway.refund(request)
    refund_record_psp_result(refund_id=refund_id, result=result, attempt=request.attempt)
    logger.info("submit_refund refund_id=%s gateway=%s status=%s retries=%s", refund_id, gateway.name,
                result.status, self.request.retries)
    return result.status


def enqueue_submit(refund_id: int) -> bool:
    """Called on commit by the services (never inside an open transaction), and by the sweeper.

    With a broker the worker runs the task and Celery retries it with backoff. In-process (the demo
    and the tests: ``task_always_eager``) Celery re-raises ``Retry`` instead of retrying when eager
    exceptions propagate, so the retries run here, at once, through the same task and the same
    idempotency key; after the last one the refund stays ``processing`` for the sweeper.
    Returns False when the broker could not be reached (the sweeper sends it later).
    """
    if not submit_refund.app.conf.task_always_eager:
        # Bounded: with the broker down the approval has committed anyway; the sweeper sends it later.
        return enqueue_now(submit_refund, refund_id)
    for attempt in range(submit_refund.max_retries + 1):
        try:
            submit_refund.apply(args=(refund_id,), retries=attempt, throw=True)
            return True
        except Retry:
            continue
        except (GatewayTransientError, ConcurrentChange):
            break  # retries exhausted
    logger.warning("submit_refund_gave_up refund_id=%s: the PSP stayed unavailable; left processing", refund_id)
    return True


def sweep_processing_now(*, now: datetime | None = None, limit: int | None = None,
                         budget_seconds: float | None = None) -> ScanResult:
    """Re-send refunds approved or processing with no PSP answer for REFUND_SWEEP_AFTER_MINUTES (the
    broker was down at approval, or a worker died mid-call). Same idempotency key: safe. Selects only
    stuck refunds (indexed on state), in keyset batches; stops at once when the broker is unreachable."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.REFUND_SWEEP_AFTER_MINUTES)
    size = batch_size(limit)
    result = ScanResult("refunds.sweep_processing", budget=TimeBudget(budget_seconds))
    for stuck in (Q(state=RefundState.APPROVED, updated_at__lt=cutoff),
                  Q(state=RefundState.PROCESSING, last_psp_attempt_at__lt=cutoff, needs_attention_at__isnull=True)):
        after = 0
        while not result.more:
            ids = list(Refund.objects.filter(stuck, pk__gt=after).order_by("pk").values_list("pk", flat=True)[:size])
            if not ids:
                break
            result.batches += 1
            for refund_id in ids:
                if result.out_of_time():
                    break
                after = refund_id
                if not enqueue_submit(refund_id):
                    result.more = True  # the broker is down: the next run tries again
                    break
                result.acted += 1
            if len(ids) < size:
                break
        if result.more:
            break
    return result.finish()


@shared_task(name="refunds.sweep_processing", acks_late=True)
def sweep_processing() -> int:
    """Re-send refunds approved or processing with no final PSP answer for REFUND_SWEEP_AFTER_MINUTES
    (the broker was down at approval, a worker died mid-call, the PSP answered pending). Same
    idempotency key, or a look-up once the PSP named the refund; after REFUND_PSP_GIVE_UP_HOURS the
    refund is flagged for the team leads instead (and left alone here)."""
    return sweep_processing_now().acted
