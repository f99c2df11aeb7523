#!/usr/bin/env python3
"""Re-verify the journal's hash chains from an audit CSV export, outside the application.

    JOURNAL_HMAC_KEYS='k1:secret' python3 verify_journal_csv.py journal.csv [--complete]

Standard library only. For every row it recomputes ``hash`` from the row's own cells and its
``prev_hash``; rows of the same case that follow each other (seq n-1, n) must link (the later row's
``prev_hash`` is the earlier row's ``hash``). With ``--complete`` every case must also start at
seq 1 from the genesis hash (64 zeros) and have no missing seq (export without filters).

How a row is hashed (the same as ``backoffice/journal``):
  payload = {case_type, case_id, case_reference, seq, transition, source_state, target_state,
             actor_id, actor_label, reason, context, created_at}
  canonical = JSON with sorted keys, separators "," and ":", non-ASCII kept (ensure_ascii=False)
  key_id empty (rows from before keyed hashing): hash = SHA-256(prev_hash + canonical(payload))
  key_id set: hash = HMAC-SHA256(secret of key_id, prev_hash + canonical(payload + {"key_id": key_id}))
The secrets come from JOURNAL_HMAC_KEYS ("key_id:secret,…", as the application is configured).
A cell that starts with an apostrophe had one added against spreadsheet formulas: one is removed.
Exit status 0 when every row verifies, 1 otherwise (each problem is printed), 2 on bad input.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import os
import sys
from collections import defaultdict

GENESIS = "0" * 64
TEXT_COLUMNS = ("case_type", "case_reference", "transition", "source", "target", "actor", "reason", "key_id")


def keys_from_env() -> dict[str, bytes]:
    keys = {}
    for item in os.environ.get("JOURNAL_HMAC_KEYS", "").split(","):
        key_id, sep, secret = item.strip().partition(":")
        if sep and key_id and secret:
            keys[key_id] = secret.encode("utf-8")
    return keys


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def unneutralise(cell: str) -> str:
    return cell[1:] if cell.startswith("'") else cell


def row_hash(row: dict[str, str], keys: dict[str, bytes]) -> str:
    payload = {
        "case_type": row["case_type"], "case_id": int(row["case_id"]), "case_reference": row["case_reference"],
        "seq": int(row["seq"]), "transition": row["transition"], "source_state": row["source"],
        "target_state": row["target"], "actor_id": int(row["actor_id"]) if row["actor_id"] else None,
        "actor_label": row["actor"], "reason": row["reason"], "context": json.loads(row["context"]),
        "created_at": row["created_at"],
    }
    key_id = row.get("key_id", "")
    if not key_id:
        return hashlib.sha256((row["prev_hash"] + canonical(payload)).encode("utf-8")).hexdigest()
    if key_id not in keys:
        raise KeyError(key_id)
    message = (row["prev_hash"] + canonical({**payload, "key_id": key_id})).encode("utf-8")
    return hmac.new(keys[key_id], message, hashlib.sha256).hexdigest()


def verify(path: str, *, complete: bool = False) -> list[str]:
    keys = keys_from_env()
    problems: list[str] = []
    chains: dict[tuple[str, int], dict[int, dict[str, str]]] = defaultdict(dict)
    with open(path, newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            for column in TEXT_COLUMNS:
                if column in row:
                    row[column] = unneutralise(row[column])
            name = f"line {line} ({row['case_type']} {row['case_reference'] or row['case_id']} seq {row['seq']})"
            try:
                expected = row_hash(row, keys)
            except KeyError as missing:
                problems.append(f"{name}: no secret for key id {missing} in JOURNAL_HMAC_KEYS")
                continue
            if not hmac.compare_digest(expected, row["hash"]):
                problems.append(f"{name}: the row does not match its hash")
            chains[(row["case_type"], int(row["case_id"]))][int(row["seq"])] = row
    for (case_type, case_id), rows in sorted(chains.items()):
        seqs = sorted(rows)
        for seq in seqs:
            if seq - 1 in rows and rows[seq]["prev_hash"] != rows[seq - 1]["hash"]:
                problems.append(f"{case_type} {case_id} seq {seq}: prev_hash does not link to seq {seq - 1}")
        if complete:
            if seqs != list(range(1, len(seqs) + 1)):
                problems.append(f"{case_type} {case_id}: missing rows (seqs {seqs[0]}..{seqs[-1]}, {len(seqs)} rows)")
            elif rows[1]["prev_hash"] != GENESIS:
                problems.append(f"{case_type} {case_id} seq 1: does not start from the genesis hash")
    return problems


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    problems = verify(args[0], complete="--complete" in argv)
    for problem in problems:
        print(problem)
    print("intact" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
