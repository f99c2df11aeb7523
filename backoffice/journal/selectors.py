"""Reads of the journal: a case's history, the audit search and chain verification."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from .models import GENESIS_HASH, JournalEntry


def journal_for_case(*, case_type: str, case_id: int) -> QuerySet[JournalEntry]:
    return JournalEntry.objects.filter(case_type=case_type, case_id=case_id).order_by("seq")


def journal_search(
    *,
    case_type: str | None = None,
    actor: str | None = None,
    since: Any = None,
    until: Any = None,
    q: str | None = None,
) -> QuerySet[JournalEntry]:
    qs = JournalEntry.objects.all()
    if case_type:
        qs = qs.filter(case_type=case_type)
    if actor:
        qs = qs.filter(actor_label=actor)
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    if q:
        qs = qs.filter(case_reference=q.strip().upper()) if "-" in q else qs.filter(transition=q.strip())
    return qs.order_by("-created_at", "-id")


@dataclass(frozen=True)
class BrokenChain:
    case_type: str
    case_id: int
    case_reference: str
    seq: int
    problem: str

    def __str__(self) -> str:
        ref = self.case_reference or f"id {self.case_id}"
        return f"{self.case_type} {ref} (id {self.case_id}): {self.problem} at seq {self.seq}"


def journal_verify(*, chunk_size: int = 5000) -> Iterator[BrokenChain]:
    """Recompute every chain in (case_type, case_id, seq) order; yield the first break of each case."""
    fields = [
        "id",
        "case_type",
        "case_id",
        "case_reference",
        "seq",
        "transition",
        "source_state",
        "target_state",
        "actor_id",
        "actor_label",
        "reason",
        "context",
        "created_at",
        "prev_hash",
        "hash",
    ]
    rows = JournalEntry.objects.order_by("case_type", "case_id", "seq").only(*fields).iterator(chunk_size=chunk_size)
    current: tuple[str, int] | None = None
    expected_prev = GENESIS_HASH
    expected_seq = 1
    broken_key: tuple[str, int] | None = None
    for entry in rows:
        key = (entry.case_type, entry.case_id)
        if key != current:
            current, expected_prev, expected_seq = key, GENESIS_HASH, 1
        if key == broken_key:
            continue
        problem = ""
        if entry.seq != expected_seq:
            problem = f"sequence gap (expected {expected_seq}, found {entry.seq})"
        elif entry.prev_hash != expected_prev:
            problem = "prev_hash does not match the previous row"
        elif entry.compute_hash() != entry.hash:
            problem = "row content does not match its hash"
        if problem:
            broken_key = key
            yield BrokenChain(entry.case_type, entry.case_id, entry.case_reference, entry.seq, problem)
            continue
        expected_prev = entry.hash
        expected_seq += 1
