"""Streams the audit CSV export through the real view in this process and reports rows, bytes, time to
first byte, total time and the growth of the process's peak memory: ``python -m bench.export_probe SINCE``."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from urllib.parse import quote


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(get_user_model().objects.get(username="auditor01"))
    client.get("/audit/")  # warm the imports and the session before the memory baseline
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    response = client.get(f"{reverse('audit-export')}?since={quote(sys.argv[1])}")
    first = None
    size = lines = 0
    for block in (response.streaming_content if response.streaming else [response.content]):
        if first is None:
            first = time.perf_counter() - started
        size += len(block)
        lines += block.count(b"\n")
    total = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"status": response.status_code, "streaming": bool(response.streaming), "rows": lines - 1,
                      "bytes": size, "first_byte_seconds": first, "seconds": total,
                      "peak_rss_growth_mb": (after - before) / 1024, "peak_rss_mb": after / 1024}))


if __name__ == "__main__":
    main()
