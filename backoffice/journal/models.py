"""The transition journal: one append-only, hash-chained table for every case transition.

Each row carries ``prev_hash`` (the previous row of the same case, or 64 zeros) and ``hash``
(SHA-256 of ``prev_hash`` + the canonical encoding of the row). On PostgreSQL a trigger refuses
UPDATE, DELETE and TRUNCATE (migration 0002); ``manage.py verify_journal`` recomputes every chain.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.db import models

GENESIS_HASH = "0" * 64


class JournalEntry(models.Model):
    case_type = models.CharField(max_length=32)
    case_id = models.BigIntegerField()
    case_reference = models.CharField(max_length=32, blank=True)
    seq = models.PositiveIntegerField(help_text="Position in this case's chain, from 1.")
    transition = models.CharField(max_length=64)
    source_state = models.CharField(max_length=32, blank=True)
    target_state = models.CharField(max_length=32, blank=True)
    # No FK constraint: the row must never change, even if a user is deleted later.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # nothing looks rows up by actor id (the audit filters on actor_label)
        related_name="+",
    )
    actor_label = models.CharField(max_length=150)
    reason = models.TextField(blank=True)
    context = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    # Not indexed: a chain is found by (case_type, case_id, seq) and verified by recomputing it; an index
    # over random SHA-256 values (two, with Django's pattern index) was never scanned and slowed every insert.
    hash = models.CharField(max_length=64)

    class Meta:
        verbose_name = "journal entry"
        verbose_name_plural = "journal entries"
        constraints = [
            models.UniqueConstraint(fields=["case_type", "case_id", "seq"], name="journal_case_seq_unique"),
        ]
        # journal_case_seq_unique serves a case's history and the chain's tail (no second index on it).
        indexes = [
            models.Index(fields=["case_reference", "created_at"], name="journal_reference_idx"),
            models.Index(fields=["created_at", "id"], name="journal_created_idx"),
            models.Index(fields=["actor_label", "created_at"], name="journal_actor_idx"),
            models.Index(fields=["case_type", "created_at"], name="journal_type_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.case_reference or self.case_id} {self.transition} {self.source_state}→{self.target_state}"

    def canonical_payload(self) -> dict[str, Any]:
        return {
            "case_type": self.case_type,
            "case_id": int(self.case_id),
            "case_reference": self.case_reference,
            "seq": int(self.seq),
            "transition": self.transition,
            "source_state": self.source_state,
            "target_state": self.target_state,
            "actor_id": self.actor_id,
            "actor_label": self.actor_label,
            "reason": self.reason,
            "context": self.context,
            "created_at": self.created_at.isoformat(timespec="microseconds"),
        }

    def compute_hash(self) -> str:
        encoded = json.dumps(
            self.canonical_payload(), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        )
        return hashlib.sha256((self.prev_hash + encoded).encode("utf-8")).hexdigest()


class DeniedAttempt(models.Model):
    """A refused action (permission, state, concurrency, rule): kept for the auditors, outside the chain."""

    case_type = models.CharField(max_length=32)
    case_id = models.BigIntegerField(null=True)
    case_reference = models.CharField(max_length=32, blank=True)
    action = models.CharField(max_length=64)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150)
    code = models.CharField(max_length=64)
    message = models.TextField(blank=True)
    context = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["case_type", "case_id"], name="denied_case_idx"),
            models.Index(fields=["created_at"], name="denied_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} on {self.case_reference or self.case_id}: {self.code}"
