"""The transition journal: one append-only, keyed hash chain per case.

Each row carries ``prev_hash`` (the previous row of the same case, or 64 zeros), ``key_id`` and
``hash`` = HMAC-SHA256(key, ``prev_hash`` + the canonical encoding of the row), the key coming
from the environment (``backoffice/journal/signing.py``). Signed checkpoints record the head of
every chain and the row count, so a deleted tail or chain is found. On PostgreSQL a trigger
refuses UPDATE, DELETE and TRUNCATE (migration 0002), and in production the app's database role
may only INSERT and SELECT here. ``manage.py verify_journal`` checks everything.

On PostgreSQL the table is partitioned by month on ``created_at`` (migration 0006, see
``backoffice/journal/partitions.py``); a partitioned table cannot hold a unique index without the
partition key, so the guarantee that a chain never forks lives in ``JournalChainHead``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from . import signing
from .signing import GENESIS_HASH

__all__ = ["GENESIS_HASH", "DeniedAttempt", "JournalChainHead", "JournalCheckpoint", "JournalCheckpointHead",
           "JournalEntry", "JournalVerification"]


def _actor(**options: bool) -> models.ForeignKey:
    """Who acted. No FK constraint: the row must never change, even if a user is deleted later."""
    return models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING,
                             db_constraint=False, related_name="+", **options)


class JournalEntry(models.Model):
    """One row of a case's chain.

    ``id`` is the model's primary key (admin, API and serializers address rows by it) and stays
    unique: it comes from the table's identity sequence, and nothing inserts an id of its own. In
    PostgreSQL the key is ``(id, created_at)`` (migration 0006), because every unique index of a
    partitioned table must contain the partition key.
    """

    case_type = models.CharField(max_length=32)
    case_id = models.BigIntegerField()
    case_reference = models.CharField(max_length=32, blank=True)
    seq = models.PositiveIntegerField(help_text="Position in this case's chain, from 1.")
    transition = models.CharField(max_length=64)
    source_state = models.CharField(max_length=32, blank=True)
    target_state = models.CharField(max_length=32, blank=True)
    actor = _actor(db_index=False)  # nothing looks rows up by actor id (the audit filters on actor_label)
    actor_label = models.CharField(max_length=150)
    reason = models.TextField(blank=True)
    context = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    key_id = models.CharField(max_length=16, blank=True, default="",
                              help_text="Id of the HMAC key that signed this row; empty for legacy SHA-256 rows.")
    # Not indexed: a chain is found by (case_type, case_id, seq) and verified by recomputing it; an index
    # over random SHA-256 values (two, with Django's pattern index) was never scanned and slowed every insert.
    hash = models.CharField(max_length=64)

    class Meta:
        verbose_name = "journal entry"
        verbose_name_plural = "journal entries"
        # No unique (case_type, case_id, seq): a partitioned table cannot have one without created_at.
        # JournalChainHead refuses a second row at the same place of a chain; this index serves a case's
        # history and the verifier.
        indexes = [
            models.Index(fields=["case_type", "case_id", "seq"], name="journal_case_seq_idx"),
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

    def compute_hash(self, keys: dict[str, bytes] | None = None) -> str:
        """The digest this row should carry, with the key its ``key_id`` names (KeyError if unknown)."""
        ring = signing.key_ring() if keys is None else keys
        return signing.entry_digest(key_id=self.key_id, secret=ring.get(self.key_id), prev_hash=self.prev_hash,
                                    payload=self.canonical_payload())


class JournalChainHead(models.Model):
    """The last row of each chain, advanced by the database in the transaction of every append.

    A trigger on the journal (migration 0006) inserts the head at seq 1 (``ON CONFLICT DO NOTHING``)
    or moves it from ``seq - 1`` to ``seq`` only if it still points at the new row's ``prev_hash``;
    otherwise the append fails with an integrity error, so two appends to one chain can never both
    commit, whatever partition they land in. ``journal_record`` reads the tail here. The app's
    database role may only read this table (the trigger writes it as the owner).
    """

    pk = models.CompositePrimaryKey("case_type", "case_id")
    case_type = models.CharField(max_length=32)
    case_id = models.BigIntegerField()
    seq = models.PositiveIntegerField()
    hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"{self.case_type}:{self.case_id} at seq {self.seq}"


class DeniedAttempt(models.Model):
    """A refused action (permission, state, concurrency, rule): kept for the auditors, outside the chain."""

    case_type = models.CharField(max_length=32)
    case_id = models.BigIntegerField(null=True)
    case_reference = models.CharField(max_length=32, blank=True)
    action = models.CharField(max_length=64)
    actor = _actor()
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


class JournalCheckpoint(models.Model):
    """A signed statement of the journal at one moment: rows ``id <= last_entry_id`` number
    ``row_count`` and every chain's head is what the heads of this and earlier checkpoints say.

    Checkpoints form their own chain (``prev_signature``); each stores only the heads of chains that
    changed since the previous one (``JournalCheckpointHead``), covered by ``heads_digest``.
    """

    class Kind(models.TextChoices):
        MIGRATION = "migration", "taken by the migration to keyed hashes"
        SCHEDULED = "scheduled", "taken by a verification run"

    seq = models.PositiveIntegerField(unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    created_at = models.DateTimeField()
    last_entry_id = models.BigIntegerField()
    row_count = models.BigIntegerField()
    chain_count = models.BigIntegerField()
    heads_count = models.PositiveIntegerField()
    heads_digest = models.CharField(max_length=64)
    prev_signature = models.CharField(max_length=64)
    key_id = models.CharField(max_length=16)
    signature = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"checkpoint #{self.seq} ({self.row_count} rows, {self.chain_count} chains)"

    def signed_fields(self) -> dict[str, Any]:
        return signing.checkpoint_fields(self)


class JournalCheckpointHead(models.Model):
    """The head of one chain as of checkpoint ``checkpoint_seq`` (stored when the chain changed)."""

    checkpoint_seq = models.PositiveIntegerField()
    case_type = models.CharField(max_length=32)
    case_id = models.BigIntegerField()
    case_reference = models.CharField(max_length=32, blank=True)
    seq = models.PositiveIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["checkpoint_seq", "case_type", "case_id"], name="journal_cphead_unique"),
        ]
        indexes = [
            models.Index(fields=["case_type", "case_id", "checkpoint_seq"], name="journal_cphead_case_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.checkpoint_seq} {self.case_type}:{self.case_id} seq {self.seq}"


class JournalVerification(models.Model):
    """The outcome of one verification run; pages and the API show the latest instead of recomputing."""

    class Mode(models.TextChoices):
        INCREMENTAL = "incremental", "incremental (since the last checkpoint)"
        FULL = "full", "full (every row re-hashed)"

    mode = models.CharField(max_length=16, choices=Mode.choices)
    trigger = models.CharField(max_length=32, help_text="schedule, command, or the user who asked")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    intact = models.BooleanField()
    rows_checked = models.BigIntegerField(default=0)
    rows_total = models.BigIntegerField(default=0)
    checkpoint_seq = models.PositiveIntegerField(null=True, blank=True,
                                                 help_text="The checkpoint compared against, or signed by this run.")
    problems = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [models.Index(fields=["-finished_at"], name="journal_verif_finished_idx")]

    def __str__(self) -> str:
        return f"{self.mode} verification at {self.finished_at:%Y-%m-%d %H:%M}: {'intact' if self.intact else 'BROKEN'}"
