"""One error format for the API: ``{"detail": …, "code": …}``; never a 500 for bad input."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from backoffice.denials import case_type_of, denial_record
from backoffice.errors import DomainError


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            msg = _first_message(value)
            return msg if key in ("non_field_errors", "detail") else f"{key}: {msg}"
        return "Invalid input."
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "Invalid input."
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.status)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": _first_message(exc.detail), "code": "invalid", "errors": exc.detail}
        response.status_code = status.HTTP_400_BAD_REQUEST
        return response
    code = getattr(exc, "default_code", "error")
    if isinstance(exc, exceptions.PermissionDenied):
        code = "permission_denied"
        _record_write_refusal(exc, context)
    elif isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        code = "not_authenticated"
    detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
    response.data = {"detail": str(detail), "code": code}
    return response


def _record_write_refusal(exc: exceptions.PermissionDenied, context: dict[str, Any]) -> None:
    """A write the API's permission classes refused (e.g. an auditor's POST) is a refusal too."""
    request, view = context.get("request"), context.get("view")
    if request is None or request.method in SAFE_METHODS or not request.user.is_authenticated:
        return
    kwargs = getattr(view, "kwargs", None) or {}
    model = getattr(view, "model", None)
    denial_record(
        exc,
        case_type=case_type_of(model) if model is not None else getattr(view, "basename", None) or "api",
        action=kwargs.get("name") or getattr(view, "action", None) or request.method.lower(),
        actor=request.user,
        case_id=kwargs.get("pk"),
        context={"interface": "api"},
    )
