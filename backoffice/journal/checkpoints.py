"""Signing checkpoints. Model classes are parameters so the migration that introduces keyed hashes
can sign the first checkpoint with its historical models."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import signing

CHECKPOINT_LOCK = 0x6A6F75726E616D  # one checkpoint writer at a time


def checkpoint_write(
    *,
    Checkpoint: Any,
    Head: Any,
    kind: str,
    boundary: int,
    new_rows: int,
    heads: Sequence[tuple[str, int, str, int, str]],
    new_chains: int,
    after_seq: int | None,
) -> Any | None:
    """Sign checkpoint ``after_seq + 1`` covering rows up to id ``boundary``; None when another
    writer signed one since ``after_seq`` was read (that run's result stands)."""
    key_id, secret = signing.current_key()
    with transaction.atomic():
        connection = transaction.get_connection()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHECKPOINT_LOCK])
        prev = Checkpoint.objects.order_by("-seq").first()
        if (prev.seq if prev else None) != after_seq:
            return None
        cp = Checkpoint(
            seq=(prev.seq + 1) if prev else 1,
            kind=kind,
            created_at=timezone.now(),
            last_entry_id=boundary,
            row_count=(prev.row_count if prev else 0) + new_rows,
            chain_count=(prev.chain_count if prev else 0) + new_chains,
            heads_count=len(heads),
            heads_digest=signing.heads_digest(heads),
            prev_signature=prev.signature if prev else signing.GENESIS_HASH,
            key_id=key_id,
        )
        cp.signature = signing.checkpoint_signature(secret=secret, fields=signing.checkpoint_fields(cp))
        cp.save(force_insert=True)
        Head.objects.bulk_create(
            (Head(checkpoint_seq=cp.seq, case_type=t, case_id=i, case_reference=r, seq=s, hash=h)
             for t, i, r, s, h in heads),
            batch_size=2000,
        )
    return cp


def all_chain_heads(Entry: Any, *, upto_id: int) -> list[tuple[str, int, str, int, str]]:
    """The last row of every chain among rows ``id <= upto_id`` (for the first checkpoint)."""
    rows = (Entry.objects.filter(id__lte=upto_id).order_by("case_type", "case_id", "seq")
            .values_list("case_type", "case_id", "case_reference", "seq", "hash").iterator(chunk_size=5000))
    heads = []
    for _, group in itertools.groupby(rows, key=lambda r: (r[0], r[1])):
        *_, last = group
        heads.append(tuple(last))
    return heads
