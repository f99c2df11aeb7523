"""Roles are Django groups (created by migration 0002); approval limits live here, per role, action and currency."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    SPECIALIST = "billing_specialist", "Billing specialist"
    TEAM_LEAD = "team_lead", "Team lead"
    AUDITOR = "finance_auditor", "Finance auditor"


class LimitAction(models.TextChoices):
    REFUND_APPROVE = "refund_approve", "Approve a refund (amount in minor units)"
    EXTENSION_APPROVE = "extension_approve", "Approve a payment extension (days)"


class ApprovalLimit(models.Model):
    """The most a role may approve for one action in one currency. No row means refused (fail closed).

    ``limit`` is in minor units of ``currency`` for refunds and in days for extensions
    (``currency`` is blank for day-based limits).
    """

    role = models.CharField(max_length=32, choices=Role.choices)
    action = models.CharField(max_length=32, choices=LimitAction.choices)
    currency = models.CharField(max_length=3, blank=True)
    limit = models.BigIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["role", "action", "currency"], name="approval_limit_unique"),
            models.CheckConstraint(condition=models.Q(limit__gte=0), name="approval_limit_non_negative"),
        ]
        ordering = ["action", "currency", "role"]

    def __str__(self) -> str:
        unit = "days" if self.action == LimitAction.EXTENSION_APPROVE else self.currency
        return f"{self.get_role_display()} · {self.get_action_display()} ≤ {self.limit} {unit}"


class DualApprovalThreshold(models.Model):
    """At or above this refund amount (minor units) two different approvers are needed."""

    currency = models.CharField(max_length=3, unique=True)
    threshold_minor = models.BigIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(threshold_minor__gt=0), name="dual_threshold_positive"),
        ]
        ordering = ["currency"]

    def __str__(self) -> str:
        return f"Dual approval from {self.threshold_minor} {self.currency} (minor units)"
