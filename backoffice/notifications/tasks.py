"""The outbox's periodic delivery: e-mails not sent right after their commit (mail server down,
a worker that died mid-way) are retried here, each at least once, never twice for one alert."""

import logging

from celery import shared_task

from .services import outbox_deliver

logger = logging.getLogger("backoffice.tasks")


@shared_task(name="notifications.deliver_outbox", acks_late=True)
def deliver_outbox() -> dict[str, int]:
    logger.info("task_start task=notifications.deliver_outbox")
    result = outbox_deliver()
    logger.info("task_end task=notifications.deliver_outbox sent=%s failed=%s more=%s", result.sent, result.failed,
                result.more)
    return result.as_dict()
