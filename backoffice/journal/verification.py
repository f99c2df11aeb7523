"""Verifying the journal against its keys and its signed checkpoints (reads only).

Two ways, same rules:

* ``verify_full()`` re-hashes every row of every chain and compares each chain with its head in the
  latest checkpoint: a changed row (even with every later hash recomputed: without the key the
  HMAC cannot be forged), a deleted tail, a deleted chain, a chain slipped in behind the app's back,
  a broken or missing checkpoint, a legacy (unkeyed) row after the cut-over — each is named.
* ``verify_incremental()`` checks only what arrived since the latest checkpoint (and that the rows
  the checkpoint covers still number what it signed), so the scheduled task stays cheap; it also
  returns the new chain heads for the next checkpoint.

Legacy rows (written before keyed hashing, ``key_id`` empty) keep their plain SHA-256 chain; they
are accepted only up to the ``migration`` checkpoint, whose signed heads pin the end of each legacy
chain, so rewriting them and recomputing their SHA-256 chain is still found.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.models import Max, Min
from django.db.utils import OperationalError

from . import signing
from .models import GENESIS_HASH, JournalChainHead, JournalCheckpoint, JournalCheckpointHead, JournalEntry

ENTRY_FIELDS = ["id", "case_type", "case_id", "case_reference", "seq", "transition", "source_state",
                "target_state", "actor_id", "actor_label", "reason", "context", "created_at", "prev_hash",
                "key_id", "hash"]
Row = NamedTuple("Row", [(name, Any) for name in ENTRY_FIELDS])  # a journal row without a model instance
BOUNDARY_LOCK_ATTEMPTS = 500  # x 20 ms: how long a checkpoint waits for an instant with no journal writer


@dataclass(frozen=True)
class BrokenChain:
    """One problem: a case's chain (``case_type`` a case type), a checkpoint (``"checkpoint"``,
    ``case_id`` its number) or the journal as a whole (``"journal"``)."""

    case_type: str
    case_id: int
    case_reference: str
    seq: int
    problem: str

    def __str__(self) -> str:
        if self.case_type == "checkpoint":
            return f"checkpoint #{self.case_id}: {self.problem}"
        if self.case_type == "journal":
            return f"journal: {self.problem}"
        ref = self.case_reference or f"id {self.case_id}"
        where = f" at seq {self.seq}" if self.seq else ""
        return f"{self.case_type} {ref} (id {self.case_id}): {self.problem}{where}"

    def as_dict(self) -> dict[str, Any]:
        return {"case_type": self.case_type, "case_id": self.case_id, "case_reference": self.case_reference,
                "seq": self.seq, "problem": self.problem}


@dataclass
class Report:
    mode: str
    problems: list[BrokenChain] = field(default_factory=list)
    rows_checked: int = 0
    rows_total: int = 0
    checkpoint_seq: int | None = None

    @property
    def intact(self) -> bool:
        return not self.problems


class Head(NamedTuple):
    case_type: str
    case_id: int
    case_reference: str
    seq: int
    hash: str


@dataclass
class Pending:
    """What the next checkpoint would sign, found by an incremental run."""

    boundary: int
    new_rows: int
    heads: list[Head]
    new_chains: int


# ---------------------------------------------------------------------------------------------
# Helpers


def stable_boundary() -> int:
    """The highest journal id below which every row is committed.

    On PostgreSQL, wait (without queueing ahead of writers) for an instant when no transaction holds
    the journal write lock, and read ``max(id)`` then. Raises ``OperationalError`` if the journal
    never goes quiet for long enough."""
    from .services import JOURNAL_WRITE_LOCK

    if connection.vendor != "postgresql":
        return JournalEntry.objects.aggregate(m=Max("id"))["m"] or 0
    import time

    for _ in range(BOUNDARY_LOCK_ATTEMPTS):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [JOURNAL_WRITE_LOCK])
            if cursor.fetchone()[0]:
                cursor.execute("SELECT COALESCE(MAX(id), 0) FROM journal_journalentry")
                return int(cursor.fetchone()[0])
        time.sleep(0.02)
    raise OperationalError("the journal had no quiet instant to take a checkpoint boundary")


def legacy_cutoff(checkpoints: Iterable[JournalCheckpoint]) -> int | None:
    """Legacy (unkeyed) rows are trusted only up to the first migration checkpoint."""
    ids = [cp.last_entry_id for cp in checkpoints if cp.kind == JournalCheckpoint.Kind.MIGRATION]
    return min(ids) if ids else None


def _rows(qs, chunk_size: int) -> Iterator[Row]:
    return (Row(*values) for values in qs.values_list(*ENTRY_FIELDS).iterator(chunk_size=chunk_size))


def _digest(row: Row, keys: dict[str, bytes]) -> str:
    return signing.entry_digest(key_id=row.key_id, secret=keys.get(row.key_id), prev_hash=row.prev_hash,
                                payload=JournalEntry.canonical_payload(row))


def _check_rows(rows: Iterable[Row], *, start_seq: int, start_prev: str, cutoff: int | None,
                keys: dict[str, bytes]) -> tuple[int, str] | None:
    """Walk one chain's rows in seq order from (start_seq, start_prev); the first problem, if any."""
    expected_seq, expected_prev = start_seq, start_prev
    for entry in rows:
        if entry.seq != expected_seq:
            return entry.seq, f"sequence gap (expected {expected_seq}, found {entry.seq})"
        if entry.prev_hash != expected_prev:
            return entry.seq, "prev_hash does not match the previous row"
        if entry.key_id == signing.LEGACY_KEY_ID:
            if cutoff is None or entry.id > cutoff:
                return entry.seq, "row without a key id (unkeyed SHA-256) written after the cut-over to keyed hashes"
        elif entry.key_id not in keys:
            return entry.seq, f"signed with unknown key id {entry.key_id!r} (missing from JOURNAL_HMAC_KEYS?)"
        if not signing.same(_digest(entry, keys), entry.hash):
            return entry.seq, "row content does not match its hash"
        expected_prev, expected_seq = entry.hash, expected_seq + 1
    return None


def _check_checkpoints(checkpoints: list[JournalCheckpoint], *, keys: dict[str, bytes], report: Report,
                       heads_from_seq: int) -> None:
    """The checkpoint chain: numbering, links, signatures; heads digests from ``heads_from_seq`` on."""
    previous: JournalCheckpoint | None = None
    for cp in checkpoints:
        expected = previous.seq + 1 if previous else 1
        if cp.seq != expected and (previous is not None or heads_from_seq <= 1):
            report.problems.append(BrokenChain("checkpoint", expected, f"#{expected}",
                                               0, f"missing (the next one present is #{cp.seq})"))
        elif previous is not None and cp.prev_signature != previous.signature:
            report.problems.append(BrokenChain("checkpoint", cp.seq, f"#{cp.seq}", 0,
                                               "does not link to the previous checkpoint"))
        elif previous is None and cp.seq == 1 and cp.prev_signature != GENESIS_HASH:
            report.problems.append(BrokenChain("checkpoint", cp.seq, f"#{cp.seq}", 0, "does not start the chain"))
        secret = keys.get(cp.key_id)
        if secret is None:
            report.problems.append(BrokenChain("checkpoint", cp.seq, f"#{cp.seq}", 0,
                                               f"signed with unknown key id {cp.key_id!r}"))
        elif not signing.same(signing.checkpoint_signature(secret=secret, fields=cp.signed_fields()), cp.signature):
            report.problems.append(BrokenChain("checkpoint", cp.seq, f"#{cp.seq}", 0,
                                               "signature does not match its content"))
        previous = cp
    by_seq = {cp.seq: cp for cp in checkpoints if cp.seq >= heads_from_seq}
    heads = (JournalCheckpointHead.objects.filter(checkpoint_seq__gte=heads_from_seq)
             .order_by("checkpoint_seq", "id")
             .values_list("checkpoint_seq", "case_type", "case_id", "case_reference", "seq", "hash")
             .iterator(chunk_size=5000))
    seen: set[int] = set()
    for cp_seq, group in itertools.groupby(heads, key=lambda h: h[0]):
        seen.add(cp_seq)
        items = [h[1:] for h in group]
        cp = by_seq.get(cp_seq)
        if cp is None:
            report.problems.append(BrokenChain("checkpoint", cp_seq, f"#{cp_seq}", 0,
                                               f"{len(items)} chain head(s) stored for a checkpoint that is missing"))
            continue
        if len(items) != cp.heads_count or not signing.same(signing.heads_digest(items), cp.heads_digest):
            report.problems.append(BrokenChain("checkpoint", cp_seq, f"#{cp_seq}", 0,
                                               "its chain heads were changed or deleted"))
    for cp in by_seq.values():
        if cp.seq not in seen and cp.heads_count:
            report.problems.append(BrokenChain("checkpoint", cp.seq, f"#{cp.seq}", 0,
                                               f"its {cp.heads_count} chain head(s) were deleted"))


def _collapsed_heads(case_type: str, upto_seq: int) -> Iterator[Head]:
    """The head of each chain of ``case_type`` as of checkpoint ``upto_seq``, in case_id order."""
    rows = (JournalCheckpointHead.objects.filter(case_type=case_type, checkpoint_seq__lte=upto_seq)
            .order_by("case_id", "checkpoint_seq")
            .values_list("case_id", "case_reference", "seq", "hash")
            .iterator(chunk_size=5000))
    for case_id, group in itertools.groupby(rows, key=lambda r: r[0]):
        *_, last = group
        yield Head(case_type, case_id, last[1], last[2], last[3])


# ---------------------------------------------------------------------------------------------
# Full verification


def verify_full(*, chunk_size: int = 5000) -> Report:
    report = Report(mode="full")
    keys = signing.key_ring()
    checkpoints = list(JournalCheckpoint.objects.order_by("seq"))
    _check_checkpoints(checkpoints, keys=keys, report=report, heads_from_seq=1)
    latest = checkpoints[-1] if checkpoints else None
    cutoff = legacy_cutoff(checkpoints)
    covered = latest.last_entry_id if latest else 0
    report.checkpoint_seq = latest.seq if latest else None

    case_types = sorted(set(JournalEntry.objects.values_list("case_type", flat=True).distinct())
                        | set(JournalCheckpointHead.objects.values_list("case_type", flat=True).distinct())
                        | set(JournalChainHead.objects.values_list("case_type", flat=True).distinct()))
    head_chains = 0
    for case_type in case_types:
        rows = _rows(JournalEntry.objects.filter(case_type=case_type).order_by("case_id", "seq"), chunk_size)
        chains = ((case_id, list(group)) for case_id, group in itertools.groupby(rows, key=lambda e: e.case_id))
        heads = _collapsed_heads(case_type, latest.seq) if latest else iter(())
        tails = _ChainTails(case_type, report)
        chain = next(chains, None)
        head = next(heads, None)
        while chain is not None or head is not None:
            if head is None or (chain is not None and chain[0] < head.case_id):
                case_id, entries = chain
                report.rows_checked += len(entries)
                judged = len(report.problems)
                _judge_chain(report, case_type, case_id, entries, None, latest, covered, cutoff, keys)
                tails.compare(case_id, entries, check=len(report.problems) == judged)
                chain = next(chains, None)
            elif chain is None or head.case_id < chain[0]:
                head_chains += 1
                report.problems.append(BrokenChain(
                    case_type, head.case_id, head.case_reference, 0,
                    f"chain deleted: checkpoint #{latest.seq} recorded {head.seq} row(s), none is left"))
                tails.compare(head.case_id, [], check=False)
                head = next(heads, None)
            else:
                case_id, entries = chain
                head_chains += 1
                report.rows_checked += len(entries)
                judged = len(report.problems)
                _judge_chain(report, case_type, case_id, entries, head, latest, covered, cutoff, keys)
                tails.compare(case_id, entries, check=len(report.problems) == judged)
                chain, head = next(chains, None), next(heads, None)
        tails.compare(None, [], check=False)

    report.rows_total = report.rows_checked
    if latest is not None:
        covered_rows = JournalEntry.objects.filter(id__lte=covered).count()
        if covered_rows != latest.row_count:
            report.problems.append(BrokenChain(
                "journal", 0, "", 0,
                f"checkpoint #{latest.seq} signed {latest.row_count} row(s) up to id {covered}, {covered_rows} found"))
        if head_chains != latest.chain_count:
            report.problems.append(BrokenChain(
                "journal", 0, "", 0,
                f"checkpoint #{latest.seq} signed {latest.chain_count} chain(s), its heads name {head_chains}"))
    elif report.rows_checked:
        report.problems.append(BrokenChain("journal", 0, "", 0,
                                           "no signed checkpoint exists: deleted tails and chains cannot be ruled out"))
    return report


class _ChainTails:
    """The chain heads the database keeps (``JournalChainHead``, the guard against forks) of one case
    type, read in case_id order beside the chains: each must name its chain's last row, and a head
    whose chain has no row left means rows were deleted. Call ``compare`` in increasing case_id order
    (``None`` at the end)."""

    def __init__(self, case_type: str, report: Report) -> None:
        self.case_type, self.report = case_type, report
        self.rows = (JournalChainHead.objects.filter(case_type=case_type).order_by("case_id")
                     .values_list("case_id", "seq", "hash").iterator(chunk_size=5000))
        self.next = next(self.rows, None)

    def compare(self, case_id: int | None, entries: list[Row], *, check: bool) -> None:
        while self.next is not None and (case_id is None or self.next[0] < case_id):
            orphan_id, seq, _ = self.next
            self.report.problems.append(BrokenChain(
                self.case_type, orphan_id, "", 0, f"chain deleted: its head is recorded at seq {seq}, no row is left"))
            self.next = next(self.rows, None)
        tail = None
        if self.next is not None and self.next[0] == case_id:
            tail, self.next = self.next, next(self.rows, None)
        if not check or not entries:
            return
        last = entries[-1]
        reference = next((e.case_reference for e in entries if e.case_reference), "")
        if tail is None:
            problem = "no chain head is recorded for it (the guard against a second row at one place)"
        elif tail[1] != last.seq or not signing.same(tail[2], last.hash):
            problem = f"its recorded chain head (seq {tail[1]}) is not its last row"
        else:
            return
        self.report.problems.append(BrokenChain(self.case_type, case_id, reference, last.seq, problem))


def _judge_chain(report: Report, case_type: str, case_id: int, entries: list[Row], head: Head | None,
                 latest: JournalCheckpoint | None, covered: int, cutoff: int | None, keys: dict[str, bytes]) -> None:
    reference = next((e.case_reference for e in entries if e.case_reference), head.case_reference if head else "")
    broken = _check_rows(entries, start_seq=1, start_prev=GENESIS_HASH, cutoff=cutoff, keys=keys)
    if broken:
        report.problems.append(BrokenChain(case_type, case_id, reference, broken[0], broken[1]))
        return
    if head is not None:
        last = entries[-1]
        if last.seq < head.seq:
            report.problems.append(BrokenChain(
                case_type, case_id, reference, last.seq + 1,
                f"tail deleted: checkpoint #{latest.seq} recorded {head.seq} row(s), the chain ends at seq {last.seq}"))
        elif not signing.same(entries[head.seq - 1].hash, head.hash):
            report.problems.append(BrokenChain(case_type, case_id, reference, head.seq,
                                               f"row differs from its head in checkpoint #{latest.seq}"))
    elif latest is not None and entries[0].id <= covered:
        report.problems.append(BrokenChain(
            case_type, case_id, reference, entries[0].seq,
            f"rows up to id {covered} are covered by checkpoint #{latest.seq}, which does not know this chain"))


def journal_verify(*, chunk_size: int = 5000) -> Iterator[BrokenChain]:
    """Every problem a full verification finds (an empty iterator when the journal is intact)."""
    yield from verify_full(chunk_size=chunk_size).problems


# ---------------------------------------------------------------------------------------------
# Incremental verification


def verify_incremental(*, last_verified_seq: int | None = None, chunk_size: int = 5000) -> tuple[Report, Pending]:
    """Check the checkpoints signed since ``last_verified_seq``, the count of covered rows, and every
    row written since the latest checkpoint; return the heads the next checkpoint would sign."""
    report = Report(mode="incremental")
    keys = signing.key_ring()
    boundary = stable_boundary()
    stats = JournalCheckpoint.objects.aggregate(n=Min("seq"), x=Max("seq"))
    anchor = max((last_verified_seq or 1), 1)
    recent = list(JournalCheckpoint.objects.filter(seq__gte=anchor).order_by("seq"))
    _check_checkpoints(recent, keys=keys, report=report, heads_from_seq=anchor + (1 if last_verified_seq else 0))
    count = JournalCheckpoint.objects.count()
    if stats["x"] is not None and (stats["n"] != 1 or count != stats["x"]):
        report.problems.append(BrokenChain("journal", 0, "", 0,
                                           f"checkpoints are missing: {count} present, numbered up to #{stats['x']}"))
    latest = recent[-1] if recent else None
    cutoff = legacy_cutoff(JournalCheckpoint.objects.filter(kind=JournalCheckpoint.Kind.MIGRATION))
    covered = latest.last_entry_id if latest else 0
    report.checkpoint_seq = latest.seq if latest else None
    if latest is not None:
        covered_rows = JournalEntry.objects.filter(id__lte=covered).count()
        report.rows_total = covered_rows
        if covered_rows != latest.row_count:
            report.problems.append(BrokenChain(
                "journal", 0, "", 0,
                f"checkpoint #{latest.seq} signed {latest.row_count} row(s) up to id {covered}, {covered_rows} found"
                " (run manage.py verify_journal to name the cases)"))
    elif JournalEntry.objects.filter(id__lte=boundary).exists() and cutoff is None:
        report.problems.append(BrokenChain("journal", 0, "", 0, "no signed checkpoint exists"))

    new = JournalEntry.objects.filter(id__gt=covered, id__lte=boundary)
    keys_by_type: dict[str, list[int]] = {}
    for case_type, case_id in new.values_list("case_type", "case_id").distinct():
        keys_by_type.setdefault(case_type, []).append(case_id)
    known: dict[tuple[str, int], Head] = {}
    for case_type, ids in keys_by_type.items():
        for start in range(0, len(ids), 2000):
            rows = (JournalCheckpointHead.objects.filter(case_type=case_type, case_id__in=ids[start:start + 2000])
                    .order_by("case_id", "checkpoint_seq").values_list("case_id", "case_reference", "seq", "hash"))
            for case_id, reference, seq, head_hash in rows:
                known[(case_type, case_id)] = Head(case_type, case_id, reference, seq, head_hash)

    heads: list[Head] = []
    new_chains = 0
    rows = _rows(new.order_by("case_type", "case_id", "seq"), chunk_size)
    for (case_type, case_id), group in itertools.groupby(rows, key=lambda e: (e.case_type, e.case_id)):
        entries = list(group)
        report.rows_checked += len(entries)
        head = known.get((case_type, case_id))
        reference = next((e.case_reference for e in entries if e.case_reference), head.case_reference if head else "")
        broken = _check_rows(entries, start_seq=head.seq + 1 if head else 1,
                             start_prev=head.hash if head else GENESIS_HASH, cutoff=cutoff, keys=keys)
        if broken:
            problem = broken[1]
            if head is None and entries[0].seq != 1:
                problem = f"{problem}: earlier rows are in no checkpoint"
            report.problems.append(BrokenChain(case_type, case_id, reference, broken[0], problem))
            continue
        if head is None:
            new_chains += 1
        last = entries[-1]
        heads.append(Head(case_type, case_id, reference, last.seq, last.hash))
    report.rows_total += report.rows_checked
    return report, Pending(boundary=boundary, new_rows=report.rows_checked, heads=heads, new_chains=new_chains)
