"""Serving a case's files to people who may read the case: never from a public media URL.

Images and PDFs open in the browser; everything else downloads (``Content-Disposition:
attachment``), with ``nosniff`` so a browser never reinterprets a file as HTML or script.
"""

from __future__ import annotations

from django.http import FileResponse, Http404

INLINE_TYPES = ("application/pdf", "image/png", "image/jpeg", "image/gif")


def file_response(field_file, *, name: str, mime_type: str) -> FileResponse:
    try:
        handle = field_file.storage.open(field_file.name, "rb")
    except (FileNotFoundError, OSError) as exc:
        raise Http404("The file is missing from storage") from exc
    inline = mime_type in INLINE_TYPES
    response = FileResponse(handle, as_attachment=not inline, filename=name or "file",
                            content_type=mime_type or "application/octet-stream")
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    if not inline:
        response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response
