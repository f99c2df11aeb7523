"""``Authorization: Token …`` against hashed, expiring tokens (replaces DRF's plain Token model)."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from .selectors import api_token_find
from .services import api_token_touch


class ExpiringTokenAuthentication(TokenAuthentication):
    keyword = "Token"

    def authenticate_credentials(self, key):
        token = api_token_find(key=key) if len(key) <= 128 else None
        if token is None:
            raise exceptions.AuthenticationFailed(
                "Invalid or expired token; ask POST /api/v1/auth/token/ for a new one.")
        api_token_touch(token=token)
        return token.user, token
