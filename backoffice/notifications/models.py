"""In-app notifications, and the claim rows that make each reminder and escalation happen once."""

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
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case_type", "case_id", "due_at", "kind", "offset_days"],
                                    name="case_alert_once"),
        ]
        indexes = [models.Index(fields=["emailed_at", "claimed_at"], name="case_alert_unsent_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.case_reference} {self.offset_days}d before {self.due_at:%Y-%m-%d %H:%M}"
