"""What the sandbox PSP remembers: one row per idempotency key, like a real PSP's refund ledger."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class SandboxRefund(models.Model):
    """A refund the sandbox PSP has executed (or is still answering ``pending`` / timing out for)."""

    idempotency_key = models.CharField(max_length=255, unique=True)
    psp_refund_id = models.CharField(max_length=64, unique=True)
    payment_reference = models.CharField(max_length=64)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, help_text="The refund's current status (a pending one settles later).")
    first_answer = models.CharField(max_length=16, blank=True,
                                    help_text="What the first call answered: a replayed key gets it again.")
    failure_code = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Calls received with this idempotency key.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="sandboxrefund_amount_positive"),
        ]
        indexes = [models.Index(fields=["payment_reference"], name="sandboxrefund_payment_idx")]

    def __str__(self) -> str:
        return f"{self.psp_refund_id} ({self.status})"
