"""A backstop for what no parser may ever see: NUL bytes in a query string or a form, ids beyond a bigint in a URL.

Every parser in ``backoffice.parsing`` refuses these too; this answers 400 (404 for an id that cannot
exist) before a view that reads ``request.GET`` or ``request.POST`` by hand could pass one to the
database, which would answer with an error (a 500).
"""

from __future__ import annotations

from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import defaults

from backoffice.parsing import MAX_ID, InvalidValue

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _has_nul(query_dict) -> bool:
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in query_dict.lists())


def _wants_json(request) -> bool:
    return request.path.startswith("/api/") or (request.path.startswith("/webhooks/") and request.method == "POST")


def bad_request(request, *, detail: str, code: str) -> HttpResponse:
    """400: ``{"detail", "code"}`` for the API and the webhooks, the "not understood" page for people."""
    if _wants_json(request):
        return JsonResponse({"detail": detail, "code": code}, status=400)
    return render(request, "400.html", {"message": detail, "code": code}, status=400)


def _refused(request, field: str) -> HttpResponse:
    return bad_request(request, detail=f"{field}: must not contain a NUL character.", code="invalid_text")


def _out_of_range(value) -> bool:
    if isinstance(value, int):
        return not 0 <= value <= MAX_ID
    if isinstance(value, str) and value.isdigit():
        return not value.isascii() or len(value) > 19 or int(value) > MAX_ID
    return False


class InputBackstopMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or _has_nul(request.GET):
            return _refused(request, "query")
        if request.method == "POST" and request.content_type in FORM_TYPES and _has_nul(request.POST):
            return _refused(request, "form")
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if any(_out_of_range(value) for value in (*view_args, *view_kwargs.values())):
            raise Http404("No such object.")
        return None

    def process_exception(self, request, exception):
        """A page view that parsed a query parameter with ``backoffice.parsing`` and let it raise."""
        if isinstance(exception, InvalidValue):
            return bad_request(request, detail=exception.message, code=exception.code)
        return None


def not_found(request, exception=None):
    """``handler404``: the API's error format under ``/api/`` (a path no route matches), the 404 page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)
