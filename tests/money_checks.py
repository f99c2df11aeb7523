"""The refund invariant as one SQL query, for the tests that go looking for money paid out twice; and a
payment row held by another transaction, for the tests of the bounded lock wait.

Per payment: refunds that are sent or on their way (approved, processing, succeeded) plus lost,
accepted or expired disputes must not exceed what was captured. Written in plain SQL on purpose, apart from
the code it checks (``invoices.ledger``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, connections, transaction

INVARIANT_SQL = """
SELECT p.id, p.amount_minor, COALESCE(r.total, 0) AS refunded, COALESCE(d.total, 0) AS disputed
FROM invoices_payment p
LEFT JOIN (SELECT payment_id, SUM(amount_minor) AS total FROM refunds_refund
           WHERE state IN ('approved', 'processing', 'succeeded') GROUP BY payment_id) r ON r.payment_id = p.id
LEFT JOIN (SELECT payment_id, SUM(amount_minor) AS total FROM disputes_dispute
           WHERE state IN ('lost', 'accepted', 'expired') GROUP BY payment_id) d ON d.payment_id = p.id
WHERE COALESCE(r.total, 0) + COALESCE(d.total, 0) > p.amount_minor
ORDER BY p.id
"""

FLAGGED_SQL = """
SELECT DISTINCT payment_id FROM disputes_dispute
WHERE state IN ('lost', 'accepted', 'expired') AND over_captured_at IS NOT NULL
"""


def payments_over_captured() -> list[tuple[int, int, int, int]]:
    """(payment id, captured, refunded, disputed) for every payment that breaks the invariant."""
    with connection.cursor() as cursor:
        cursor.execute(INVARIANT_SQL)
        return [tuple(row) for row in cursor.fetchall()]


def payments_with_a_flagged_loss() -> set[int]:
    """Payments where the network took money already refunded: a lost, accepted or expired dispute is flagged."""
    with connection.cursor() as cursor:
        cursor.execute(FLAGGED_SQL)
        return {row[0] for row in cursor.fetchall()}


@contextmanager
def payment_held_elsewhere(payment_id: int, *, seconds: float = 60) -> Iterator[None]:
    """Inside the block, another thread's transaction holds the payment's row lock (``FOR UPDATE``);
    it lets go when the block ends, or after ``seconds`` at the latest. Needs a transactional test."""
    from invoices.models import Payment

    locked, release = threading.Event(), threading.Event()

    def holder() -> None:
        try:
            with transaction.atomic():
                Payment.objects.select_for_update().get(pk=payment_id)
                locked.set()
                release.wait(timeout=seconds)
        finally:
            connections.close_all()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert locked.wait(timeout=10), "the holder never got the payment's lock"
        yield
    finally:
        release.set()
        thread.join(timeout=seconds)
