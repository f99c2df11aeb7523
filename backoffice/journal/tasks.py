import logging

from celery import shared_task

from .partitions import journal_create_partitions
from .services import journal_verify_and_record

logger = logging.getLogger("backoffice.tasks")


@shared_task(name="journal.verify_incremental", acks_late=True)
def verify_incremental(trigger: str = "schedule") -> bool:
    """Check rows written since the latest checkpoint, then sign the next checkpoint (every 10 min)."""
    logger.info("task_start task=journal.verify_incremental trigger=%s", trigger)
    result = journal_verify_and_record(mode="incremental", trigger=trigger)
    logger.info("task_end task=journal.verify_incremental intact=%s rows=%s", result.intact, result.rows_checked)
    return result.intact


@shared_task(name="journal.verify_full", acks_late=True)
def verify_full(trigger: str = "schedule") -> bool:
    """Re-hash every row and compare every chain with the latest checkpoint (daily)."""
    logger.info("task_start task=journal.verify_full trigger=%s", trigger)
    result = journal_verify_and_record(mode="full", trigger=trigger)
    logger.info("task_end task=journal.verify_full intact=%s rows=%s", result.intact, result.rows_checked)
    return result.intact


@shared_task(name="journal.create_partitions", acks_late=True)
def create_partitions() -> int:
    """Make the journal's partitions for this month and the next three, and for any month whose rows
    landed in the DEFAULT partition (moved there); daily. Returns how many were created."""
    logger.info("task_start task=journal.create_partitions")
    created = journal_create_partitions()
    logger.info("task_end task=journal.create_partitions created=%s moved=%s", len(created),
                sum(moved for _, moved in created))
    return len(created)
