import logging

from celery import shared_task

from .services import alert_resend_unsent

logger = logging.getLogger("backoffice.tasks")


@shared_task(name="notifications.resend_unsent_alerts", acks_late=True)
def resend_unsent_alerts() -> int:
    logger.info("task_start task=notifications.resend_unsent_alerts")
    count = alert_resend_unsent()
    logger.info("task_end task=notifications.resend_unsent_alerts sent=%s", count)
    return count
