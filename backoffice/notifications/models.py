"""In-app notifications; the claim rows that make each reminder and escalation happen once; the e-mail
outbox that delivers them at least once; and what the schedulers and periodic tasks last did (/healthz)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Notification(models.Model):
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32)  # deadline_reminder, escalation, …
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=200, blank=True)
    case_type = models.CharField(max_length=32, blank=True)
    case_id = models.BigIntegerField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["recipient", "read_at", "-created_at"], name="notification_inbox_idx"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title


class CaseAlert(models.Model):
    """One row per (case, due date, kind, offset): inserted — claimed — before anything is sent.

    The unique constraint is what makes a reminder or escalation happen at most once, whatever
    the broker does (redelivery after a dead worker, a task run twice, two beats).
    """

    class Kind(models.TextChoices):
        REMINDER = "reminder"
        ESCALATION = "escalation"

    case_type = models.CharField(max_length=32)
    case_id = models.BigIntegerField()
    case_reference = models.CharField(max_length=32, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    due_at = models.DateTimeField(help_text="The due date the alert is about; a moved date starts a new series.")
    offset_days = models.IntegerField(default=0)
    recipients = models.JSONField(default=list)
    claimed_at = models.DateTimeField(auto_now_add=True)
    claim_token = models.CharField(
        max_length=32, blank=True, help_text="The run that claimed it (a random token per batch)."
    )
    emailed_at = models.DateTimeField(null=True, blank=True, help_text="When the mail server accepted its e-mail.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case_type", "case_id", "due_at", "kind", "offset_days"],
                                    name="case_alert_once"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.case_reference} {self.offset_days}d before {self.due_at:%Y-%m-%d %H:%M}"


class OutboxEmail(models.Model):
    """An e-mail to send, written in the transaction that decided to send it (e.g. with its alert's claim).

    Delivery is at least once: a sender leases the row (``next_attempt_at`` moves into the future),
    talks to the mail server with no lock held, and sets ``sent_at`` only after the server accepted
    the message. A sender that dies mid-way leaves the lease to expire and the row is sent again.
    An alert has at most one e-mail (``alert`` is unique): a second claim of the same alert cannot
    exist, so neither can a second e-mail.
    """

    alert = models.OneToOneField(CaseAlert, null=True, blank=True, on_delete=models.PROTECT, related_name="email")
    to = models.JSONField(default=list, help_text="Addresses, resolved when the e-mail was decided.")
    subject = models.CharField(max_length=255)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField(help_text="Due for a (re)try from then on; a lease while sending.")
    attempts = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["next_attempt_at", "id"], condition=models.Q(sent_at__isnull=True),
                         name="outbox_pending_idx"),
        ]

    def __str__(self) -> str:
        return self.subject


class TaskRunStatus(models.Model):
    """What a scheduled task last did, one row per task name (written by the Celery signal handlers in
    ``backoffice.scheduling``, wherever the task ran: worker or in-process)."""

    task = models.CharField(max_length=200, unique=True)
    scheduled_since = models.DateTimeField(
        help_text="When a schedule for this task was created or (re-)enabled: lateness never counts from before."
    )
    runs = models.PositiveBigIntegerField(default=0)
    failures = models.PositiveBigIntegerField(default=0)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_succeeded_at = models.DateTimeField(null=True, blank=True)
    last_failed_at = models.DateTimeField(null=True, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    unknown_count = models.PositiveBigIntegerField(
        default=0, help_text="Times a scheduler found a schedule naming this task and no such task."
    )
    last_unknown_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "task run statuses"

    def __str__(self) -> str:
        return self.task


class SchedulerProcess(models.Model):
    """A scheduler that ran: Celery beat or the in-process runner (``manage.py run_periodic``)."""

    ident = models.CharField(max_length=200, unique=True, help_text="host:pid:random")
    kind = models.CharField(max_length=16)
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.kind} {self.ident}"
