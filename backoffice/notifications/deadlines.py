"""Which reminder offset a due date is in right now.

Offsets (days before the internal due date, e.g. 7, 3, 1) cut the time before a deadline into
windows: [due−7d, due−3d) is the 7-day reminder's, [due−3d, due−1d) the 3-day one's, [due−1d, due)
the 1-day one's. A case gets at most one reminder per window, so a scan that runs late sends the
reminder that is current, never a burst of stale ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta


def reminder_window(*, due_at: datetime, now: datetime, offsets_days: Sequence[int]) -> int | None:
    """The offset whose window contains ``now``, or None (too early, or already past due)."""
    if now >= due_at:
        return None
    offsets = sorted({int(o) for o in offsets_days if int(o) > 0}, reverse=True)
    for i, offset in enumerate(offsets):
        start = due_at - timedelta(days=offset)
        end = due_at - timedelta(days=offsets[i + 1]) if i + 1 < len(offsets) else due_at
        if start <= now < end:
            return offset
    return None
