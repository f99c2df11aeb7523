from datetime import UTC, datetime, timedelta

import pytest

from backoffice.notifications.deadlines import reminder_window

DUE = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("before,expected", [
    (timedelta(days=8), None),
    (timedelta(days=7), 7),
    (timedelta(days=5), 7),
    (timedelta(days=3), 3),
    (timedelta(days=2), 3),
    (timedelta(days=1), 1),
    (timedelta(minutes=1), 1),
    (timedelta(0), None),
    (-timedelta(days=1), None),
])
def test_each_moment_belongs_to_at_most_one_reminder_window(before, expected):
    assert reminder_window(due_at=DUE, now=DUE - before, offsets_days=[7, 3, 1]) == expected


def test_offsets_can_be_configured_in_any_order():
    assert reminder_window(due_at=DUE, now=DUE - timedelta(days=10), offsets_days=[1, 14]) == 14
    assert reminder_window(due_at=DUE, now=DUE - timedelta(hours=5), offsets_days=[1, 14]) == 1
