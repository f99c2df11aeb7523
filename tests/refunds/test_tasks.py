"""The submission task: approved → processing → the PSP's answer, retries with the same key, idempotent."""

import pytest
from celery.exceptions import Retry
from django.db import connection

from backoffice.actors import WEBHOOK_STRIPE
from backoffice.errors import ConcurrentChange
from backoffice.gateway import GATEWAYS, GatewayTransientError, RefundResult, RefundStatus
from backoffice.gateway.models import SandboxRefund
from backoffice.gateway.sandbox import SandboxGateway
from backoffice.journal.models import JournalEntry
from refunds.models import Refund
from refunds.services import refund_approve, refund_record_psp_result, refund_retry
from refunds.tasks import enqueue_submit, submit_refund

from .factories import RefundFactory, request_refund


def reload(refund):
    return Refund.objects.get(pk=refund.pk)


def test_the_task_has_an_explicit_name_and_retries_only_transient_psp_errors_and_a_busy_payment():
    assert submit_refund.name == "refunds.submit_refund"
    assert submit_refund.autoretry_for == (GatewayTransientError, ConcurrentChange)
    assert submit_refund.acks_late is True
    assert submit_refund.retry_backoff and submit_refund.max_retries >= 3


@pytest.mark.django_db
def test_submitting_an_approved_refund_once_and_again_calls_the_psp_once(specialist, lead):
    refund = request_refund(requester=specialist)
    refund_approve(refund=refund, actor=lead, reason="ok", submit=False)

    assert submit_refund.apply(args=(refund.pk,)).get() == "succeeded"
    assert submit_refund.apply(args=(refund.pk,)).get() == "nothing_to_do"
    assert submit_refund.apply(args=(10**9,)).get() == "nothing_to_do"

    refund = reload(refund)
    assert refund.state == "succeeded" and refund.submitted_at and refund.last_psp_attempt_at
    assert SandboxRefund.objects.get().attempts == 1


@pytest.mark.django_db
def test_a_refund_not_approved_is_never_sent(specialist):
    refund = request_refund(requester=specialist)
    assert submit_refund.apply(args=(refund.pk,)).get() == "nothing_to_do"
    assert reload(refund).state == "pending_approval" and SandboxRefund.objects.count() == 0


@pytest.mark.django_db
def test_a_transient_error_makes_celery_retry_the_task(specialist, lead):
    refund = request_refund(requester=specialist, amount_minor=1057)  # the sandbox times out once
    refund_approve(refund=refund, actor=lead, reason="ok", submit=False)

    with pytest.raises(Retry):
        submit_refund.apply(args=(refund.pk,), throw=True)
    assert reload(refund).state == "processing"
    submit_refund.apply(args=(refund.pk,), retries=1, throw=True)

    refund = reload(refund)
    assert refund.state == "succeeded"
    psp = SandboxRefund.objects.get()
    assert (psp.attempts, psp.psp_refund_id, psp.idempotency_key) == (2, refund.psp_refund_id, refund.reference)


@pytest.mark.django_db
def test_approval_enqueues_on_commit_and_a_timeout_then_retry_refunds_once(specialist, lead, commit):
    refund = request_refund(requester=specialist, amount_minor=4257)
    with commit():
        refund_approve(refund=refund, actor=lead, reason="ok")

    assert reload(refund).state == "succeeded"
    assert SandboxRefund.objects.count() == 1 and SandboxRefund.objects.get().attempts == 2
    assert list(JournalEntry.objects.filter(case_id=refund.pk, case_type="refund").order_by("seq")
                .values_list("transition", flat=True)) == ["create", "approve", "submit", "mark_succeeded"]


@pytest.mark.django_db
def test_psp_timeout_then_retry_produces_exactly_one_refund_at_stripe(specialist, lead, commit, fake_stripe):
    fake_stripe.hang_first_seconds = 1.0  # Stripe executes the refund but answers after our timeout
    refund = request_refund(requester=specialist, amount_minor=3000)

    with commit():
        refund_approve(refund=refund, actor=lead, reason="Duplicate capture")

    refund = reload(refund)
    assert refund.state == "succeeded"
    assert fake_stripe.keys() == [refund.reference, refund.reference]  # the retry reused the key
    assert len(fake_stripe.refunds) == 1
    assert refund.psp_refund_id == next(iter(fake_stripe.refunds))
    assert fake_stripe.requests[0]["params"]["amount"] == "3000"


@pytest.mark.django_db
def test_a_psp_that_stays_down_leaves_the_refund_processing_after_the_last_retry(specialist, lead, commit,
                                                                                  fake_stripe):
    fake_stripe.answers = [("status", 503)] * 50
    refund = request_refund(requester=specialist)

    with commit():
        refund_approve(refund=refund, actor=lead, reason="ok")

    refund = reload(refund)
    assert refund.state == "processing" and refund.psp_refund_id == ""
    assert len(fake_stripe.requests) == submit_refund.max_retries + 1
    assert set(fake_stripe.keys()) == {refund.reference}
    assert fake_stripe.refunds == {}


@pytest.mark.django_db
def test_stripe_refusals_fail_the_refund_with_stripes_code(specialist, lead, commit, fake_stripe):
    fake_stripe.answers = [("error", 400, "charge_disputed")]
    refund = request_refund(requester=specialist)

    with commit():
        refund_approve(refund=refund, actor=lead, reason="ok")

    refund = reload(refund)
    assert (refund.state, refund.failure_code) == ("failed", "charge_disputed")


@pytest.mark.django_db
def test_a_lead_retry_uses_a_new_key_and_can_succeed(specialist, lead, commit, fake_stripe):
    fake_stripe.answers = [("refund", "failed", "expired_or_canceled_card"), ("refund", "succeeded")]
    refund = request_refund(requester=specialist)
    with commit():
        refund_approve(refund=refund, actor=lead, reason="ok")
    assert reload(refund).state == "failed"

    with commit():
        refund_retry(refund=reload(refund), actor=lead, reason="Customer has a new card")

    refund = reload(refund)
    assert (refund.state, refund.psp_attempt, refund.failure_code) == ("succeeded", 2, "")
    assert fake_stripe.keys() == [refund.reference, f"{refund.reference}-attempt-2"]


@pytest.mark.django_db
def test_late_or_repeated_psp_answers_change_nothing(specialist, lead):
    refund = RefundFactory(requester=specialist, state="processing", psp_attempt=2)
    ok = RefundResult(RefundStatus.SUCCEEDED, psp_refund_id="re_old")

    refund_record_psp_result(refund_id=refund.pk, result=ok, attempt=1)  # an answer to the first, failed attempt
    assert reload(refund).state == "processing"

    refund_record_psp_result(refund_id=refund.pk, result=RefundResult(RefundStatus.PENDING, psp_refund_id="re_2"),
                             attempt=2)
    assert (reload(refund).state, reload(refund).psp_refund_id) == ("processing", "re_2")

    refund_record_psp_result(refund_id=refund.pk, actor=WEBHOOK_STRIPE,
                             result=RefundResult(RefundStatus.SUCCEEDED, psp_refund_id="re_2"))
    refund_record_psp_result(refund_id=refund.pk, result=RefundResult(RefundStatus.FAILED, failure_code="x"))
    refund = reload(refund)
    assert (refund.state, refund.psp_refund_id) == ("succeeded", "re_2")
    last = JournalEntry.objects.filter(case_type="refund", case_id=refund.pk).order_by("-seq").first()
    assert (last.transition, last.actor_label) == ("mark_succeeded", "webhook:stripe")
    assert refund_record_psp_result(refund_id=10**9, result=ok) is None


class TransactionSpyGateway(SandboxGateway):
    seen: list = []

    def refund(self, request):
        TransactionSpyGateway.seen.append(connection.in_atomic_block)
        return super().refund(request)


@pytest.mark.django_db(transaction=True)
def test_the_psp_is_called_after_commit_and_outside_any_transaction(specialist, lead, settings, monkeypatch):
    monkeypatch.setitem(GATEWAYS, "spy", f"{__name__}.TransactionSpyGateway")
    settings.PAYMENT_GATEWAY = "spy"
    TransactionSpyGateway.seen = []
    refund = request_refund(requester=specialist)

    refund_approve(refund=refund, actor=lead, reason="ok")

    assert TransactionSpyGateway.seen == [False]
    assert reload(refund).state == "succeeded"


@pytest.mark.django_db
def test_enqueue_submit_outside_eager_mode_goes_to_the_broker(specialist, monkeypatch):
    sent = []
    monkeypatch.setitem(submit_refund.app.conf, "task_always_eager", False)
    monkeypatch.setattr(submit_refund, "apply_async", lambda args, **kwargs: sent.append(args[0]))
    enqueue_submit(41)
    assert sent == [41]
