"""DRF throttles: sign-in attempts per client address, writes per user. Rates come from
``API_THROTTLE_RATES`` at request time; a cache that cannot be reached lets the request through
(and logs it) rather than failing it."""

from __future__ import annotations

import logging

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger("backoffice.api")

try:
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - redis is a requirement
    RedisError = OSError  # type: ignore[misc,assignment]


class _Throttle(SimpleRateThrottle):
    def get_rate(self):
        return settings.API_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view):
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except (RedisError, OSError) as exc:
            logger.warning("throttle_cache_unavailable scope=%s error=%s", self.scope, exc.__class__.__name__)
            return True


class LoginRateThrottle(_Throttle):
    scope = "login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class WriteRateThrottle(_Throttle):
    scope = "write"

    def get_cache_key(self, request, view):
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        user = getattr(request, "user", None)
        ident = f"user-{user.pk}" if user is not None and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
