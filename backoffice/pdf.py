"""PDF rendering with WeasyPrint that fetches nothing from the network.

Only the files handed to ``render_pdf`` (as ``packet-file:<name>`` URLs) can be loaded; every
other URL, ``file://`` and ``http(s)://`` included, is refused before any I/O.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from pathlib import Path

FILE_SCHEME = "packet-file:"


class RefusedURL(ValueError):
    pass


def file_url(name: str) -> str:
    """The URL to put in ``<img src>`` for a file passed in ``files``."""
    return f"{FILE_SCHEME}{name}"


def _fetcher_class():
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class OwnFilesFetcher(URLFetcher):
        def __init__(self, files: Mapping[str, Path | bytes]):
            super().__init__(allowed_protocols=(), allow_redirects=False)
            self.files = dict(files)
            self.refused: list[str] = []

        def fetch(self, url, headers=None):
            if not url.startswith(FILE_SCHEME) or url[len(FILE_SCHEME):] not in self.files:
                self.refused.append(url)
                raise RefusedURL(f"refused to fetch {url!r}: documents load only their own files")
            name = url[len(FILE_SCHEME):]
            source = self.files[name]
            data = source if isinstance(source, bytes) else Path(source).read_bytes()
            mime, _ = mimetypes.guess_type(name)
            return URLFetcherResponse(url, data, {"Content-Type": mime or "application/octet-stream"})

    return OwnFilesFetcher


def render_pdf(html: str, *, files: Mapping[str, Path | bytes] | None = None) -> bytes:
    from weasyprint import HTML  # imported lazily: it loads Pango at import time

    fetcher = _fetcher_class()(files or {})
    return HTML(string=html, base_url=FILE_SCHEME, url_fetcher=fetcher).write_pdf()
