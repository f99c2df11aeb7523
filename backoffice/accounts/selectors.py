from __future__ import annotations

from django.utils import timezone

from .models import ApiToken
from .services import token_digest


def api_token_find(*, key: str) -> ApiToken | None:
    """The live token for ``key`` (not expired, active user), or None."""
    return (ApiToken.objects.select_related("user")
            .filter(key_hash=token_digest(key), expires_at__gt=timezone.now(), user__is_active=True).first())
