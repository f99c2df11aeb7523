"""The ledger service: find a payment, lock a payment, and what a payment has left (the refund invariant).

**Lock order** (written here once; every write that moves money follows it):

    payment (``payment_lock``) → case (refund / dispute / extension, ``lock_case``) → invoice

A service that can move money opens one transaction, locks the payment row first with
``payment_lock``, then the case row (``backoffice.cases.transitions.lock_case``, which
``run_transition`` takes), then anything below it. Never lock a payment while holding a case
row: two writers taking the two rows in opposite orders deadlock. ``payment_lock`` waits at most
``PAYMENT_LOCK_TIMEOUT_MS`` (``SET LOCAL lock_timeout`` for that one statement): a payment held
longer by someone else answers ``concurrent_change`` (409) instead of waiting without bound.

**The refund invariant**, read by ``payment_balance`` under that lock: for every payment

    refunds not failed, rejected or cancelled + lost, accepted or expired disputes  ≤  captured

(same currency; a lost dispute in another currency cannot be subtracted without a rate, so it
leaves nothing to refund). A refund is refused while a dispute on the payment is undecided. Each
step that moves money re-checks it: a refund request (its amount fits in ``refundable_minor``),
every approval and the PSP submission (``within_captured``: the refund is already counted), a
retry (its amount fits again), a refund the PSP made by itself (recorded, flagged when it does not
fit). Disputes are the network's decision: one that does not fit is recorded and *flagged*
(``Dispute.over_captured_minor``), and the payment's still open refunds are then refused.
``refundable_minor_expression`` is the same definition as a queryset annotation (lists, pages).

Refunds and disputes are read through the app registry, so this module imports neither app.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import OperationalError, connection, transaction
from django.db.models import BigIntegerField, Case, Exists, F, OuterRef, QuerySet, Subquery, Sum, Value, When
from django.db.models.expressions import Expression
from django.db.models.functions import Coalesce, Greatest

from backoffice.errors import ConcurrentChange, NotFound
from backoffice.parsing import id_or_none

from .models import Payment

PAYMENT_LOCK_TIMEOUT_MS = 1000



def _model(app_label: str, name: str) -> Any | None:
    try:
        return apps.get_model(app_label, name)
    except LookupError:
        return None


def _refund_released_states() -> tuple[str, ...]:
    """Refund states that hold no money: the refunds app says which (``refunds.models``)."""
    from refunds.models import RELEASED_STATES

    return tuple(RELEASED_STATES)


def dispute_state_sets() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(lost or accepted, undecided) dispute states: the disputes app says which (``disputes.models``)."""
    from disputes.models import LOST_STATES, UNDECIDED_STATES

    return tuple(LOST_STATES), tuple(UNDECIDED_STATES)


# ---------------------------------------------------------------- find and lock


def payment_find(*, reference: str, queryset: QuerySet[Payment] | None = None) -> Payment | None:
    """A payment by id (ASCII digits) or by the PSP's charge reference, within ``queryset``.

    Callers acting for a user pass the queryset that user may read (``refunds.selectors.payment_list``);
    the default is every payment (system callers and the disputes form, which any worker may use).
    """
    reference = (reference or "").strip()
    if not reference or "\x00" in reference or len(reference) > 64:
        return None
    qs = queryset if queryset is not None else Payment.objects.select_related("invoice", "customer")
    payment_id = id_or_none(reference)
    if payment_id is not None:
        found = qs.filter(pk=payment_id).first()
        if found is not None:
            return found
    return qs.filter(psp_reference=reference).order_by("id").first()


def payment_lock(payment_id: int) -> Payment:
    """``SELECT … FOR UPDATE`` the payment: the first lock of every money write (see the lock order above).

    Call inside ``transaction.atomic()``. Waits at most ``PAYMENT_LOCK_TIMEOUT_MS`` on PostgreSQL
    (the timeout applies to this statement only; the transaction's own setting is restored), then
    raises ``ConcurrentChange``. ``NotFound`` for an unknown payment.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("payment_lock needs an open transaction (transaction.atomic()).")
    qs = Payment.objects.all()
    postgres = connection.vendor == "postgresql"
    if connection.features.has_select_for_update:
        qs = qs.select_for_update()
    try:
        if postgres:
            with connection.cursor() as cursor:
                # The CTE reads the current value before set_config changes it: one round trip.
                cursor.execute(
                    "WITH previous AS MATERIALIZED (SELECT current_setting('lock_timeout') AS value) "
                    "SELECT value, set_config('lock_timeout', %s, true) FROM previous",
                    [f"{PAYMENT_LOCK_TIMEOUT_MS}ms"],
                )
                previous = cursor.fetchone()[0]
        payment = qs.get(pk=payment_id)
    except Payment.DoesNotExist as exc:
        raise NotFound(f"Payment {payment_id} does not exist.") from exc
    except OperationalError as exc:
        # lock_timeout (SQLSTATE 55P03) or SQLite's "database is locked": someone else holds the payment.
        # Anything else (a dropped connection, …) is not a concurrent change: let it be seen as what it is.
        sqlstate = getattr(exc.__cause__, "sqlstate", None)
        if postgres and sqlstate != "55P03":
            raise
        raise ConcurrentChange(
            f"Payment {payment_id} is being changed by someone else right now. Try again in a moment."
        ) from exc
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
    return payment


# ---------------------------------------------------------------- the invariant


def _sum_by_payment(queryset: QuerySet) -> Subquery:
    total = queryset.order_by().values("payment_id").annotate(total=Sum("amount_minor")).values("total")
    return Subquery(total, output_field=BigIntegerField())


def _zero() -> Value:
    return Value(0, output_field=BigIntegerField())


def _held_refunds(Refund: Any) -> QuerySet:
    return Refund.objects.filter(payment_id=OuterRef("pk")).exclude(state__in=_refund_released_states())


def refundable_minor_expression() -> Expression:
    """Annotation for a ``Payment`` queryset: minor units still refundable (never below zero)."""
    left: Expression = F("amount_minor")
    Refund = _model("refunds", "Refund")
    if Refund is not None:
        left = left - Coalesce(_sum_by_payment(_held_refunds(Refund)), _zero())
    Dispute = _model("disputes", "Dispute")
    if Dispute is not None:
        lost = Dispute.objects.filter(payment_id=OuterRef("pk"), state__in=dispute_state_sets()[0])
        lost_here = _sum_by_payment(lost.filter(currency=OuterRef("currency")))
        lost_elsewhere = Exists(lost.exclude(currency=OuterRef("currency")))
        left = Case(When(lost_elsewhere, then=_zero()), default=left - Coalesce(lost_here, _zero()),
                    output_field=BigIntegerField())
    return Greatest(left, _zero(), output_field=BigIntegerField())


@dataclass(frozen=True)
class PaymentBalance:
    """What a payment captured and what holds against it, in its currency's minor units."""

    payment_id: int
    currency: str
    captured_minor: int
    refunds_held_minor: int  # refunds not failed, rejected or cancelled (requested up to succeeded)
    disputes_lost_minor: int  # lost, accepted or expired disputes in the payment's currency
    disputes_undecided_minor: int  # inquiry, needs response, under review, in the payment's currency
    lost_elsewhere: bool  # a lost, accepted or expired dispute in another currency (cannot be subtracted)
    undecided_elsewhere: bool  # an undecided dispute in another currency

    @property
    def has_undecided_dispute(self) -> bool:
        return self.disputes_undecided_minor > 0 or self.undecided_elsewhere

    @property
    def refundable_minor(self) -> int:
        """What a new refund (or a retried failed one) may still take."""
        if self.lost_elsewhere:
            return 0
        return max(self.captured_minor - self.refunds_held_minor - self.disputes_lost_minor, 0)

    @property
    def excess_minor(self) -> int:
        """How far held refunds plus lost disputes are above the captured amount (0 when within)."""
        return max(self.refunds_held_minor + self.disputes_lost_minor - self.captured_minor, 0)

    @property
    def within_captured(self) -> bool:
        """The invariant, with every held refund counted: what an approval or a submission re-checks."""
        return not self.lost_elsewhere and self.excess_minor == 0

    def excess_with_dispute(self, *, amount_minor: int, currency: str, counted: bool) -> int | None:
        """How far a dispute of ``amount_minor`` pushes refunds + disputes past captured (0: it fits).

        ``counted``: the dispute is already in the sums (being accepted or lost now is not: it is
        undecided until the transition). Undecided disputes count too, as the network may take them.
        None when the amounts cannot be compared (another currency while anything else holds).
        """
        if currency != self.currency:
            others = self.refunds_held_minor + self.disputes_lost_minor + self.disputes_undecided_minor
            return None if others or self.lost_elsewhere else 0
        total = self.refunds_held_minor + self.disputes_lost_minor + self.disputes_undecided_minor
        if not counted:
            total += amount_minor
        return max(total - self.captured_minor, 0)


# The balance query is compiled once per process and database alias (a payment id that cannot exist stands in
# for the real one): building it through the ORM cost about as much Python as the rest of an approval.
_BALANCE_PLACEHOLDER = -7_461_043_211
_balance_queries: dict[str, tuple[str, tuple[str, ...], tuple[Any, ...], int]] = {}


def _balance_query(using: str) -> tuple[str, tuple[str, ...], tuple[Any, ...], int]:
    cached = _balance_queries.get(using)
    if cached is not None:
        return cached
    annotations: dict[str, Expression] = {"refunds_held": _zero(), "lost_here": _zero(), "undecided_here": _zero(),
                                          "lost_elsewhere": Value(False), "undecided_elsewhere": Value(False)}
    Refund = _model("refunds", "Refund")
    if Refund is not None:
        annotations["refunds_held"] = Coalesce(_sum_by_payment(_held_refunds(Refund)), _zero())
    Dispute = _model("disputes", "Dispute")
    if Dispute is not None:
        lost_states, undecided_states = dispute_state_sets()
        lost = Dispute.objects.filter(payment_id=OuterRef("pk"), state__in=lost_states)
        undecided = Dispute.objects.filter(payment_id=OuterRef("pk"), state__in=undecided_states)
        annotations.update(
            lost_here=Coalesce(_sum_by_payment(lost.filter(currency=OuterRef("currency"))), _zero()),
            undecided_here=Coalesce(_sum_by_payment(undecided.filter(currency=OuterRef("currency"))), _zero()),
            lost_elsewhere=Exists(lost.exclude(currency=OuterRef("currency"))),
            undecided_elsewhere=Exists(undecided.exclude(currency=OuterRef("currency"))),
        )
    columns = ("currency", "amount_minor", *annotations)
    query = (Payment.objects.using(using).filter(pk=_BALANCE_PLACEHOLDER).annotate(**annotations)
             .values(*columns)[:1]).query
    sql, params = query.get_compiler(using).as_sql()
    at = [i for i, value in enumerate(params) if value == _BALANCE_PLACEHOLDER]
    if len(at) != 1:  # the id must be the query's only parameter of its kind, or substituting it is unsafe
        raise RuntimeError(f"the balance query carries the payment id {len(at)} times")
    cached = _balance_queries[using] = (sql, columns, tuple(params), at[0])
    return cached


def payment_balance(*, payment_id: int) -> PaymentBalance:
    """The payment's balance in one query. Call under ``payment_lock`` to act on it."""
    using = Payment.objects.db
    sql, columns, params, at = _balance_query(using)
    values = list(params)
    values[at] = int(payment_id)
    with transaction.get_connection(using).cursor() as cursor:
        cursor.execute(sql, values)
        found = cursor.fetchone()
    if found is None:
        raise NotFound(f"Payment {payment_id} does not exist.")
    row = dict(zip(columns, found, strict=True))
    return PaymentBalance(
        payment_id=payment_id, currency=row["currency"], captured_minor=int(row["amount_minor"]),
        refunds_held_minor=int(row["refunds_held"]), disputes_lost_minor=int(row["lost_here"]),
        disputes_undecided_minor=int(row["undecided_here"]), lost_elsewhere=bool(row["lost_elsewhere"]),
        undecided_elsewhere=bool(row["undecided_elsewhere"]),
    )


def payments_refundable_minor(*, payment_ids: Iterable[int]) -> dict[int, int]:
    """``{payment id: refundable minor units}`` for many payments in one query (unknown ids are left out)."""
    ids = {int(pk) for pk in payment_ids}
    if not ids:
        return {}
    rows = Payment.objects.filter(pk__in=ids).annotate(refundable_minor=refundable_minor_expression())
    return dict(rows.values_list("pk", "refundable_minor"))
