"""Writing to the journal. Call ``journal_record`` inside the transaction that changes the case,
while the case row is locked (the transition service does both)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from backoffice.actors import actor_label, actor_user_id
from backoffice.context import current_request_context

from . import signing
from .checkpoints import all_chain_heads, checkpoint_write
from .models import (
    GENESIS_HASH,
    JournalChainHead,
    JournalCheckpoint,
    JournalCheckpointHead,
    JournalEntry,
    JournalVerification,
)
from .verification import verify_full, verify_incremental

logger = logging.getLogger("backoffice.journal")

# PostgreSQL advisory lock: every transaction that appends to the journal holds it shared, and a
# checkpoint takes it exclusively for an instant to read a boundary id below which every row is
# committed (ids come from a sequence, so an uncommitted lower id could otherwise appear later).
JOURNAL_WRITE_LOCK = 0x6A6F75726E616C


def journal_write_lock_shared() -> None:
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [JOURNAL_WRITE_LOCK])


def journal_record(
    *,
    case_type: str,
    case_id: int,
    case_reference: str = "",
    transition: str,
    source: str,
    target: str,
    actor: Any,
    reason: str = "",
    context: dict[str, Any] | None = None,
) -> JournalEntry:
    """Append one row to the case's chain. Must run inside ``transaction.atomic()``."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("journal_record must run inside the transaction that changes the case")
    journal_write_lock_shared()
    key_id, secret = signing.current_key()
    # The chain's tail, as JournalChainHead holds it (advanced with every append, see _chain_advance).
    last = JournalChainHead.objects.filter(case_type=case_type, case_id=case_id).values_list("seq", "hash").first()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
    full_context = {**current_request_context(), **(context or {})}
    entry = JournalEntry(
        case_type=case_type,
        case_id=case_id,
        case_reference=case_reference or "",
        seq=seq,
        transition=transition,
        source_state=source or "",
        target_state=target or "",
        actor_id=actor_user_id(actor),
        actor_label=actor_label(actor),
        reason=reason or "",
        context=full_context,
        created_at=timezone.now(),
        prev_hash=prev_hash,
        key_id=key_id,
    )
    entry.hash = entry.compute_hash({key_id: secret})
    if transaction.get_connection().vendor != "postgresql":
        _chain_advance(entry)  # on PostgreSQL the journal's trigger does it, as the owner (migration 0006)
    entry.save(force_insert=True)
    return entry


def _chain_advance(entry: JournalEntry) -> None:
    """What the PostgreSQL trigger does, for other databases: move the chain's head to ``entry`` or
    refuse (IntegrityError) if another row took that place first."""
    from django.db import IntegrityError

    key = {"case_type": entry.case_type, "case_id": entry.case_id}
    if entry.seq == 1:
        _, advanced = JournalChainHead.objects.get_or_create(**key, defaults={"seq": 1, "hash": entry.hash})
    else:
        advanced = JournalChainHead.objects.filter(**key, seq=entry.seq - 1, hash=entry.prev_hash).update(
            seq=entry.seq, hash=entry.hash)
    if not advanced:
        raise IntegrityError(f"journal chain {entry.case_type} {entry.case_id} already moved on: seq {entry.seq} "
                             "does not follow its head")


def journal_verify_and_record(*, mode: str = "incremental", trigger: str = "schedule") -> JournalVerification:
    """Verify the journal and keep the outcome for the audit page and the API.

    ``incremental`` checks what arrived since the latest checkpoint and, when everything holds,
    signs the next checkpoint over it; ``full`` re-hashes every row (no checkpoint). A broken
    journal is never checkpointed, so the finding stays until the rows are restored.
    """
    started = timezone.now()
    pending = None
    after_seq = None
    if mode == JournalVerification.Mode.FULL:
        report = verify_full()
    else:
        last_ok = (JournalVerification.objects.filter(intact=True, checkpoint_seq__isnull=False)
                   .order_by("-finished_at", "-id").values_list("checkpoint_seq", flat=True).first())
        after_seq = JournalCheckpoint.objects.order_by("-seq").values_list("seq", flat=True).first()
        report, pending = verify_incremental(last_verified_seq=last_ok)
    if pending is not None and report.intact and (pending.new_rows or after_seq is None):
        signed = checkpoint_write(
            Checkpoint=JournalCheckpoint, Head=JournalCheckpointHead, kind=JournalCheckpoint.Kind.SCHEDULED,
            boundary=pending.boundary, new_rows=pending.new_rows, heads=[tuple(h) for h in pending.heads],
            new_chains=pending.new_chains, after_seq=after_seq)
        if signed is not None:
            report.checkpoint_seq = signed.seq
            logger.info("journal_checkpoint seq=%s rows=%s chains=%s signature=%s", signed.seq, signed.row_count,
                        signed.chain_count, signed.signature)
    result = JournalVerification.objects.create(
        mode=mode, trigger=trigger[:32], started_at=started, finished_at=timezone.now(), intact=report.intact,
        rows_checked=report.rows_checked, rows_total=report.rows_total, checkpoint_seq=report.checkpoint_seq,
        problems=[p.as_dict() | {"text": str(p)} for p in report.problems[:1000]],
    )
    log = logger.info if report.intact else logger.error
    log("journal_verified mode=%s intact=%s rows_checked=%s problems=%s checkpoint=%s", mode, report.intact,
        report.rows_checked, len(report.problems), report.checkpoint_seq)
    return result


def journal_checkpoint_genesis() -> JournalCheckpoint | None:
    """Sign the first checkpoint over whatever the journal holds now (unkeyed rows included) when
    none exists. Migration 0004 does this once; test databases call it again after a flush."""
    if JournalCheckpoint.objects.exists():
        return None
    from .verification import stable_boundary

    boundary = stable_boundary()
    heads = all_chain_heads(JournalEntry, upto_id=boundary)
    return checkpoint_write(
        Checkpoint=JournalCheckpoint, Head=JournalCheckpointHead, kind=JournalCheckpoint.Kind.MIGRATION,
        boundary=boundary, new_rows=JournalEntry.objects.filter(id__lte=boundary).count(), heads=heads,
        new_chains=len(heads), after_seq=None)
