"""Domain errors on pages: a message on the page; 403 for permission refusals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.shortcuts import render

from backoffice.denials import case_type_of, denial_record
from backoffice.errors import DomainError, PermissionDenied


def page_error_response(request, err: DomainError, *, redirect_to):
    """Show ``err`` to the user: a 403 page for permission refusals, otherwise a message and a redirect."""
    if isinstance(err, PermissionDenied):
        return render(request, "403.html", {"message": err.message, "code": err.code}, status=403)
    messages.error(request, f"{err.message} ({err.code})")
    return redirect_to


def page_action(request, run: Callable[[], Any], *, success: str | Callable[[Any], str], redirect_to):
    """A page's form that calls one service: ``run()``; a refusal is shown as ``page_error_response`` shows
    it, otherwise ``success`` (or ``success(what run returned)``) as a message; then ``redirect_to``."""
    try:
        result = run()
    except DomainError as err:
        return page_error_response(request, err, redirect_to=redirect_to)
    messages.success(request, success(result) if callable(success) else success)
    return redirect_to


def page_refusal(request, *, model, action: str, message: str, case=None):
    """The 403 page for a role that may not do this; a sent form (POST) is recorded as a refusal."""
    err = PermissionDenied(message)
    if request.method == "POST":
        denial_record(err, case_type=case_type_of(model), action=action, actor=request.user,
                      case_id=getattr(case, "pk", None), case_reference=getattr(case, "reference", "") or "",
                      context={"interface": "page"})
    return page_error_response(request, err, redirect_to=None)
