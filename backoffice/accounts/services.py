"""Issuing, using and revoking API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import ApiToken

TOUCH_EVERY = timedelta(minutes=5)


def token_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def api_token_issue(*, user: Any) -> tuple[ApiToken, str]:
    """A new token for ``user``, valid ``API_TOKEN_TTL_HOURS``; returns the row and the token,
    which is shown once and never stored. The user's expired tokens are removed."""
    key = secrets.token_hex(20)
    now = timezone.now()
    with transaction.atomic():
        ApiToken.objects.filter(user=user, expires_at__lte=now).delete()
        token = ApiToken.objects.create(user=user, key_hash=token_digest(key), prefix=key[:8], created_at=now,
                                        last_used_at=now,
                                        expires_at=now + timedelta(hours=settings.API_TOKEN_TTL_HOURS))
    return token, key


def api_token_touch(*, token: ApiToken) -> None:
    """Note when a token was last used (at most every few minutes, not a write per request)."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)


def api_token_revoke(*, tokens: Any) -> int:
    with transaction.atomic():
        count, _ = ApiToken.objects.filter(pk__in=[t.pk for t in tokens]).delete()
    return count
