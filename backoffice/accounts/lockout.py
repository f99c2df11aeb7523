"""What a locked-out sign-in gets (django-axes calls this): JSON on the API, a page elsewhere."""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render


def lockout_response(request, original_response=None, credentials=None):
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = (f"Too many failed sign-ins for this account: it is locked for {minutes} minutes. "
               "Ask an administrator if you need access sooner.")
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message, "code": "account_locked"}, status=429)
    else:
        response = render(request, "registration/locked.html", {"message": message}, status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
