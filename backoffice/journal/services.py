"""Writing to the journal. Call ``journal_record`` inside the transaction that changes the case,
while the case row is locked (the transition service does both)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from backoffice.actors import actor_label, actor_user_id
from backoffice.context import current_request_context

from .models import GENESIS_HASH, DeniedAttempt, JournalEntry

logger = logging.getLogger("backoffice.journal")


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
    last = (
        JournalEntry.objects.filter(case_type=case_type, case_id=case_id)
        .order_by("-seq")
        .values_list("seq", "hash")
        .first()
    )
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
    )
    entry.hash = entry.compute_hash()
    entry.save(force_insert=True)
    return entry


def denied_record(
    *,
    case_type: str,
    case_id: int | None,
    case_reference: str = "",
    action: str,
    actor: Any,
    code: str,
    message: str = "",
    context: dict[str, Any] | None = None,
) -> None:
    """Record a refused attempt in its own transaction (the refused one was rolled back)."""
    logger.info(
        "action_denied case_type=%s case_id=%s action=%s actor=%s code=%s",
        case_type,
        case_id,
        action,
        actor_label(actor),
        code,
    )
    with transaction.atomic():
        DeniedAttempt.objects.create(
            case_type=case_type,
            case_id=case_id,
            case_reference=case_reference or "",
            action=action,
            actor_id=actor_user_id(actor),
            actor_label=actor_label(actor),
            code=code,
            message=message[:2000],
            context={**current_request_context(), **(context or {})},
        )
