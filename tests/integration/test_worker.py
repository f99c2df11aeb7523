"""A real Celery worker (separate process) on CI's Redis and PostgreSQL."""

import time
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from backoffice.notifications.models import CaseAlert, Notification
from disputes.tasks import send_deadline_reminders
from refunds.models import Refund
from tests.disputes.factories import DisputeFactory
from tests.refunds.factories import request_refund

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_worker_sends_a_reminder_once_and_not_again(celery_worker_process, specialist):
    dispute = DisputeFactory(assignee=specialist, due_at=timezone.now() + timedelta(days=4),
                             internal_due_at=timezone.now() + timedelta(days=2, hours=12))
    send_deadline_reminders.delay()
    assert wait_for(lambda: CaseAlert.objects.filter(case_id=dispute.pk, emailed_at__isnull=False).exists())
    alert = CaseAlert.objects.get(case_id=dispute.pk)
    assert alert.offset_days == 3
    send_deadline_reminders.delay()
    send_deadline_reminders.delay()
    time.sleep(3)  # give the worker time to run both (they must change nothing)
    assert CaseAlert.objects.filter(case_id=dispute.pk).count() == 1
    assert Notification.objects.filter(case_id=dispute.pk, recipient=specialist).count() == 1
    assert mail.outbox == []  # the email went out from the worker process, not this one


def test_refund_approved_through_the_api_succeeds_through_the_worker(celery_worker_process, api, specialist,
                                                                       lead):
    refund = request_refund(requester=specialist, amount_minor=2500)
    response = api(lead).post(f"/api/v1/refunds/{refund.pk}/transitions/approve/", {"reason": "confirmed"},
                              format="json")
    assert response.status_code == 200, response.content
    assert wait_for(lambda: Refund.objects.get(pk=refund.pk).state == "succeeded")
