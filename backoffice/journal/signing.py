"""Keys and digests of the journal: HMAC-SHA256 with a key that lives only in the environment.

``JOURNAL_HMAC_KEYS`` is a comma-separated list of ``key_id:secret``; the first key signs new
rows and checkpoints, the others only verify what they signed before a rotation. Each row and
checkpoint stores the id of the key that signed it, never the key. Rows written before keyed
hashing (``key_id`` empty) carry a plain SHA-256 and are trusted only up to the signed checkpoint
taken by migration ``journal.0004`` (see ``backoffice/journal/verification.py``).

Pure functions, importable by migrations.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

GENESIS_HASH = "0" * 64
LEGACY_KEY_ID = ""
KEY_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,16}$")
MIN_SECRET_BYTES = 32


def parse_keys(raw: str) -> list[tuple[str, bytes]]:
    """``"k2:secret,k1:older"`` → ``[("k2", b"secret"), ("k1", b"older")]``; refuses malformed input."""
    keys: list[tuple[str, bytes]] = []
    for item in (part.strip() for part in (raw or "").split(",")):
        if not item:
            continue
        key_id, sep, secret = item.partition(":")
        if not sep or not KEY_ID_RE.match(key_id) or not secret:
            raise ImproperlyConfigured(
                "JOURNAL_HMAC_KEYS must be comma-separated key_id:secret pairs (key id: 1-16 of A-Z a-z 0-9 _ . -)")
        if any(key_id == known for known, _ in keys):
            raise ImproperlyConfigured(f"JOURNAL_HMAC_KEYS names key id {key_id!r} twice")
        keys.append((key_id, secret.encode("utf-8")))
    return keys


def key_ring() -> dict[str, bytes]:
    return dict(settings.JOURNAL_HMAC_KEYS)


def current_key() -> tuple[str, bytes]:
    keys = settings.JOURNAL_HMAC_KEYS
    if not keys:
        raise ImproperlyConfigured("JOURNAL_HMAC_KEYS is empty: the journal cannot sign rows")
    return keys[0]


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_digest(*, key_id: str, secret: bytes | None, prev_hash: str, payload: Mapping[str, Any]) -> str:
    """The ``hash`` of a journal row: HMAC-SHA256 over the previous hash and the canonical row
    (the key id included), or plain SHA-256 for a legacy row (``key_id`` empty)."""
    if key_id == LEGACY_KEY_ID:
        return hashlib.sha256((prev_hash + canonical_json(payload)).encode("utf-8")).hexdigest()
    if secret is None:
        raise KeyError(key_id)
    message = (prev_hash + canonical_json({**payload, "key_id": key_id})).encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def heads_digest(heads: Iterable[tuple[str, int, str, int, str]]) -> str:
    """SHA-256 over one ``case_type case_id case_reference seq hash`` line per head, in stored order."""
    digest = hashlib.sha256()
    for case_type, case_id, case_reference, seq, head_hash in heads:
        digest.update(canonical_json([case_type, int(case_id), case_reference, int(seq), head_hash]).encode() + b"\n")
    return digest.hexdigest()


def checkpoint_fields(cp: Any) -> dict[str, Any]:
    """What a checkpoint's signature covers (works on historical models in migrations too)."""
    return {
        "seq": int(cp.seq),
        "kind": cp.kind,
        "created_at": cp.created_at.isoformat(timespec="microseconds"),
        "last_entry_id": int(cp.last_entry_id),
        "row_count": int(cp.row_count),
        "chain_count": int(cp.chain_count),
        "heads_count": int(cp.heads_count),
        "heads_digest": cp.heads_digest,
        "prev_signature": cp.prev_signature,
        "key_id": cp.key_id,
    }


def checkpoint_message(fields: Mapping[str, Any]) -> bytes:
    return canonical_json(dict(fields)).encode("utf-8")


def checkpoint_signature(*, secret: bytes, fields: Mapping[str, Any]) -> str:
    return hmac.new(secret, checkpoint_message(fields), hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
