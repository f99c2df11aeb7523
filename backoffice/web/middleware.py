"""Puts the request id and client IP where the journal can read them."""

from __future__ import annotations

import uuid

from backoffice.context import reset_request_context, set_request_context


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request.META.get("HTTP_X_REQUEST_ID", "")[:64] or uuid.uuid4().hex
        ip = request.META.get("REMOTE_ADDR", "")
        token = set_request_context({"request_id": request_id, "ip": ip})
        try:
            response = self.get_response(request)
        finally:
            reset_request_context(token)
        response["X-Request-ID"] = request_id
        return response
