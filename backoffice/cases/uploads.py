"""File validation shared by attachments and dispute evidence: size limit and type by content, not name."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from backoffice.errors import InvalidInput

# extension -> the MIME type its content must sniff as
ALLOWED_EXTENSIONS: dict[str, str] = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".txt": "text/plain",
    ".log": "text/plain",
    ".csv": "text/csv",
    ".json": "application/json",
    ".eml": "message/rfc822",
}


@dataclass(frozen=True)
class CheckedFile:
    mime_type: str
    size: int
    sha256: str
    original_name: str


def _sniff(head: bytes) -> str | None:
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    return None


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character may be cut at the end of the sample.
        return exc.start >= len(data) - 3
    return True


def check_upload(upload: UploadedFile, *, max_bytes: int | None = None) -> CheckedFile:
    """Refuse (``InvalidInput``) a file too large, of a type we do not take, or whose content is not its type."""
    limit = max_bytes or settings.ATTACHMENT_MAX_BYTES
    name = PurePosixPath(upload.name or "").name
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in ALLOWED_EXTENSIONS:
        allowed = ", ".join(sorted(ALLOWED_EXTENSIONS))
        raise InvalidInput(f"Files of type '{suffix or 'none'}' are not accepted. Allowed: {allowed}.",
                           code="file_type_not_allowed")
    if upload.size is None or upload.size == 0:
        raise InvalidInput("The file is empty.", code="file_empty")
    if upload.size > limit:
        raise InvalidInput(
            f"The file is {upload.size} bytes; the limit is {limit} bytes.", code="file_too_large"
        )
    digest = hashlib.sha256()
    head = b""
    text_ok = True
    upload.seek(0)
    for chunk in upload.chunks():
        if len(head) < 8192:
            head += chunk[: 8192 - len(head)]
        digest.update(chunk)
    upload.seek(0)
    expected = ALLOWED_EXTENSIONS[suffix]
    sniffed = _sniff(head)
    if expected.startswith(("text/", "application/json", "message/")):
        text_ok = sniffed is None and _is_text(head)
        if not text_ok:
            raise InvalidInput(
                f"'{name}' does not contain text as its extension says.", code="file_content_mismatch"
            )
    elif sniffed != expected:
        raise InvalidInput(
            f"The content of '{name}' is not a {expected} file as its extension says.",
            code="file_content_mismatch",
        )
    return CheckedFile(mime_type=expected, size=upload.size, sha256=digest.hexdigest(), original_name=name[:255])
