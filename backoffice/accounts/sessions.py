"""Sessions end after ``SESSION_IDLE_TIMEOUT`` seconds without a request, and in any case
``SESSION_COOKIE_AGE`` seconds after sign-in (no sliding renewal beyond that)."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import JsonResponse
from django.shortcuts import redirect

STARTED = "auth_started_at"
SEEN = "auth_seen_at"
RESAVE_AFTER = 60  # seconds: refresh the idle stamp at most once a minute (one session write)


def session_started(request) -> None:
    now = int(time.time())
    request.session[STARTED] = now
    request.session[SEEN] = now


class SessionTimeoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session") and request.session.session_key:
            now = int(time.time())
            started = request.session.get(STARTED, now)
            seen = request.session.get(SEEN, now)
            idle = now - seen > settings.SESSION_IDLE_TIMEOUT
            if idle or now - started > settings.SESSION_COOKIE_AGE:
                logout(request)
                reason = "You were signed out after a period of inactivity." if idle else \
                    "Your session reached its maximum length; please sign in again."
                if request.path.startswith("/api/"):
                    return JsonResponse({"detail": reason, "code": "session_expired"}, status=401)
                messages.info(request, reason)
                return redirect(f"{settings.LOGIN_URL_PATH}?next={request.path}")
            if STARTED not in request.session:
                request.session[STARTED] = started
            if now - seen >= RESAVE_AFTER or SEEN not in request.session:
                request.session[SEEN] = now
        return self.get_response(request)
