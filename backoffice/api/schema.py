"""The OpenAPI schema documents the refusals every operation can answer, in the one error format.

Every API error is ``{"detail": …, "code": …}`` (``backoffice.api.errors``), sometimes with more keys
(``field``, ``errors``). A postprocessing hook adds the 4xx answers an operation does not describe
itself, so clients (and schemathesis) can rely on the schema for refusals as well as for successes.
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "description": 'A refusal: ``detail`` for people, ``code`` for programs (e.g. "invalid_due_at").',
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "field": {"type": "string"},
        "errors": {"description": "Per-field messages (an object) or per-row problems (a list)."},
    },
    "required": ["detail", "code"],
    "additionalProperties": True,
}

REFUSALS = {
    "400": "Invalid input (a value outside what the parsers accept, a malformed or too deeply nested body).",
    "401": "Not signed in, or the token is unknown or expired.",
    "403": "Signed in, but not allowed to do this.",
    "404": "No such object (or not visible to you).",
    "405": "This method is not allowed here.",
    "406": "No representation in the requested media type.",
    "409": "Refused by the case's state or a business rule (transition_not_allowed, concurrent_change …).",
    "413": "The body is too large.",
    "415": "Unsupported media type.",
    "422": "This Idempotency-Key was already used with another body.",
    "429": "Too many requests (throttled, or the account is locked).",
}


def document_refusals(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: every operation gets the error schema for the 4xx above."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR_SCHEMA)
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in ("get", "post", "put", "patch", "delete") or not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            content = {"application/json": {"schema": ref}}
            if "application/pdf" in responses.get("200", {}).get("content", {}):
                # a PDF endpoint renders its refusal with the renderer the client asked for
                content["application/pdf"] = {"schema": {"type": "string", "format": "binary"}}
            for status, description in REFUSALS.items():
                responses.setdefault(status, {"description": description, "content": content})
    return result
