"""``Idempotency-Key`` for create endpoints: same key and body → the first response; another body → 422.

The key row is inserted first, under a unique constraint (user, endpoint, key), in the same
transaction as the create: a concurrent duplicate waits on the constraint and then replays.

Used by the endpoints whose model keeps no key of its own (extensions, disputes). A refund keeps
its key on the row (``Refund.idempotency_key``, unique per requester): ``POST /api/v1/refunds/``
hands the header to ``refunds.services.refund_request``, which is the one layer deciding there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from rest_framework.response import Response

from backoffice.errors import IdempotencyMismatch, InvalidInput

from .models import IdempotencyRecord

HEADER = "HTTP_IDEMPOTENCY_KEY"
REPLAYED_HEADER = "Idempotent-Replayed"


def _body_hash(data: Any) -> str:
    encoded = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def idempotent_create(request, *, endpoint: str, create: Callable[[], Response]) -> Response:
    key = request.META.get(HEADER, "").strip()
    if not key:
        return create()
    if len(key) > 255:
        raise InvalidInput("Idempotency-Key is limited to 255 characters.", code="invalid_idempotency_key")
    data = request.data.dict() if hasattr(request.data, "dict") else request.data
    body_hash = _body_hash(data)
    existing = IdempotencyRecord.objects.filter(user=request.user, endpoint=endpoint, key=key).first()
    if existing is not None:
        return _replay(existing, body_hash)
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                user=request.user, endpoint=endpoint, key=key, request_hash=body_hash
            )
            response = create()
            if response.status_code >= 400:
                # Failed requests are not remembered: rolling back lets the client retry with the same key.
                transaction.set_rollback(True)
                return response
            record.response_status = response.status_code
            record.response_body = response.data
            record.save(update_fields=["response_status", "response_body"])
            return response
    except IntegrityError:
        existing = IdempotencyRecord.objects.filter(user=request.user, endpoint=endpoint, key=key).first()
        if existing is None:
            raise
        return _replay(existing, body_hash)


def _replay(record: IdempotencyRecord, body_hash: str) -> Response:
    if record.request_hash != body_hash:
        raise IdempotencyMismatch()
    response = Response(record.response_body, status=record.response_status or 201)
    response[REPLAYED_HEADER] = "true"
    return response
