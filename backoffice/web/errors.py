"""Domain errors on pages: a message on the page; 403 for permission refusals."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import render

from backoffice.errors import DomainError, PermissionDenied


def page_error_response(request, err: DomainError, *, redirect_to):
    """Show ``err`` to the user: a 403 page for permission refusals, otherwise a message and a redirect."""
    if isinstance(err, PermissionDenied):
        return render(request, "403.html", {"message": err.message, "code": err.code}, status=403)
    messages.error(request, f"{err.message} ({err.code})")
    return redirect_to
