"""Reads of refunds and of what a payment has left to refund.

What a payment has left to refund is defined once, in ``invoices.ledger`` (the refund invariant:
refunds not failed, rejected or cancelled + lost, accepted or expired disputes ≤ captured).
``payment_refundable_minor`` (one payment, under the payment's row lock in the services),
``payments_refundable_minor`` (many ids, one query) and ``payment_list`` (the API's annotated list)
read that definition.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.db import connection
from django.db.models import (
    BigIntegerField,
    CharField,
    Exists,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.utils import timezone

from backoffice.errors import NotFound
from backoffice.roles.models import ApprovalLimit, LimitAction
from backoffice.roles.predicates import can_read, is_worker, user_roles
from invoices import ledger
from invoices.ledger import refundable_minor_expression as refundable_minor_expression  # the one definition
from invoices.models import Payment

from .models import AWAITING_DECISION, Refund, RefundApproval

LIST_RELATED = ("payment__customer", "payment__invoice", "requester", "assignee")


def dispute_model() -> Any | None:
    """The disputes app's ``Dispute`` model, or None while that app is not installed."""
    try:
        return apps.get_model("disputes", "Dispute")
    except LookupError:
        return None


def payment_refundable_minor(*, payment: Payment) -> int:
    """What is left to refund on ``payment``, in its minor units. Call under the payment's row lock to act on it."""
    return ledger.payment_balance(payment_id=payment.pk).refundable_minor


def payments_refundable_minor(*, payment_ids: Iterable[int]) -> dict[int, int]:
    """``{payment id: refundable minor units}`` for many payments in one query (unknown ids are left out)."""
    return ledger.payments_refundable_minor(payment_ids=payment_ids)


def payment_has_open_dispute(*, payment: Payment) -> bool:
    """True while a dispute on the payment is undecided (inquiry, needs response, under review)."""
    return ledger.payment_balance(payment_id=payment.pk).has_undecided_dispute


def payment_list(*, user: Any) -> QuerySet[Payment]:
    """Payments with ``refundable_minor`` annotated (no N+1), newest first."""
    if not can_read(user):
        return Payment.objects.none()
    from invoices.selectors import payment_list as ledger_payment_list

    return ledger_payment_list().annotate(refundable_minor=refundable_minor_expression())


def payment_get(*, user: Any, payment_id: int) -> Payment:
    payment = payment_list(user=user).filter(pk=payment_id).first()
    if payment is None:
        raise NotFound(f"Payment {payment_id} does not exist.")
    return payment


def payment_find(*, user: Any, reference: str) -> Payment | None:
    """A payment this user may read, by id or by the PSP's charge reference (the refund request form)."""
    if not can_read(user):
        return None
    return ledger.payment_find(reference=reference, queryset=payment_list(user=user))


def _approvals_prefetch() -> Prefetch:
    return Prefetch("approvals", queryset=RefundApproval.objects.select_related("approver").order_by("step"))


def refund_list(*, user: Any, with_approvals: bool = False) -> QuerySet[Refund]:
    """Refunds this user may read (every role reads all; no role, nothing), newest first."""
    if not can_read(user):
        return Refund.objects.none()
    qs = Refund.objects.select_related(*LIST_RELATED).order_by("-created_at", "-id")
    if with_approvals:
        qs = qs.prefetch_related(_approvals_prefetch())
    return qs


def refund_get(*, user: Any, refund_id: int) -> Refund:
    refund = refund_list(user=user, with_approvals=True).filter(pk=refund_id).first()
    if refund is None:
        raise NotFound(f"Refund {refund_id} does not exist.")
    return refund


def refund_approvals(*, refund: Refund) -> list[RefundApproval]:
    cache = getattr(refund, "_prefetched_objects_cache", {})
    if "approvals" in cache:
        return list(cache["approvals"])
    return list(RefundApproval.objects.filter(refund_id=refund.pk).select_related("approver").order_by("step"))


def refund_approval_limits(*, user: Any) -> dict[str, int]:
    """``{currency: highest refund limit}`` over the user's roles (no row for a currency = refused there)."""
    roles = user_roles(user)
    if not roles:
        return {}
    limits: dict[str, int] = {}
    rows = ApprovalLimit.objects.filter(role__in=roles, action=LimitAction.REFUND_APPROVE)
    for currency, limit in rows.values_list("currency", "limit"):
        limits[currency] = max(limit, limits.get(currency, limit))
    return limits


def refunds_awaiting_decision_by(queryset: QuerySet[Refund], user: Any) -> QuerySet[Refund]:
    """The approvals queue: refunds pending (second) approval that ``user`` could decide now.

    Not their own requests, within their limit for the currency, and none they already decided
    (a first approver does not see the refund again for the second approval). Mirrors
    ``refunds.policy.decision_refusal`` as a query.
    """
    if not is_worker(user):
        return queryset.none()
    within = Q()
    for currency, limit in refund_approval_limits(user=user).items():
        if limit > 0:
            within |= Q(currency=currency, amount_minor__lte=limit)
    if not within:
        return queryset.none()
    decided = RefundApproval.objects.filter(refund_id=OuterRef("pk"), approver_id=user.pk)
    return (
        queryset.filter(within, state__in=AWAITING_DECISION)
        .exclude(requester_id=user.pk)
        .exclude(Exists(decided))
    )



# ---------------------------------------------------------------- possible duplicates

DUPLICATE_WINDOW = timedelta(hours=24)


def recent_duplicates(*, payment_id: int, amount_minor: int, now: datetime | None = None) -> list[Refund]:
    """Refunds of exactly this amount on this payment requested in the last 24 hours, newest first."""
    since = (now or timezone.now()) - DUPLICATE_WINDOW
    return list(Refund.objects.filter(payment_id=payment_id, amount_minor=amount_minor, created_at__gte=since)
                .order_by("-created_at", "-id")[:5])


def possible_duplicate_expression() -> Exists:
    """Annotation for a ``Refund`` queryset: another refund of the same amount on the same payment was
    requested within 24 hours of this one (either side). Uses the (payment, state) index per row."""
    return Exists(
        Refund.objects.filter(
            payment_id=OuterRef("payment_id"), amount_minor=OuterRef("amount_minor"),
            created_at__gte=OuterRef("created_at") - DUPLICATE_WINDOW,
            created_at__lte=OuterRef("created_at") + DUPLICATE_WINDOW,
        ).exclude(pk=OuterRef("pk"))
    )


def refund_for_form_token(*, requester: Any, token: str) -> Refund | None:
    """The refund a request form's one-time token already created for this requester, if any."""
    if not token:
        return None
    return Refund.objects.filter(requester_id=requester.pk, idempotency_key=token).first()


HISTORY_WINDOW = timedelta(days=90)
HISTORY_CAP = 500


@dataclass(frozen=True)
class CustomerHistory:
    refunds_recent: int  # refunds requested in the last 90 days
    disputes: int  # disputes ever
    capped: bool  # the bounded read stopped early: "at least" these numbers


def customers_refund_history(*, customer_ids: Iterable[int]) -> dict[int, CustomerHistory]:
    """Each customer's recent refunds and disputes for the rows of one queue page: one query of two bounded
    reads (at most ``HISTORY_CAP`` rows each), whatever the customers' history, never a COUNT."""
    ids = sorted({int(pk) for pk in customer_ids})
    if not ids:
        return {}
    since = timezone.now() - HISTORY_WINDOW
    kind = CharField()
    reads = Refund.objects.filter(payment__customer_id__in=ids, created_at__gte=since).order_by().values_list(
        "payment__customer_id", Value("refund", output_field=kind))[:HISTORY_CAP]
    Dispute = dispute_model()
    if Dispute is not None:
        disputes = Dispute.objects.filter(payment__customer_id__in=ids).order_by().values_list(
            "payment__customer_id", Value("dispute", output_field=kind))[:HISTORY_CAP]
        if connection.features.supports_slicing_ordering_in_compound:
            rows = list(reads.union(disputes, all=True))  # one round trip for both bounded reads
        else:  # SQLite (the demo): two reads
            rows = list(reads) + list(disputes)
    else:
        rows = list(reads)
    refunds = [pk for pk, what in rows if what == "refund"]
    disputes_of = [pk for pk, what in rows if what == "dispute"]
    capped = len(refunds) >= HISTORY_CAP or len(disputes_of) >= HISTORY_CAP
    return {pk: CustomerHistory(refunds.count(pk), disputes_of.count(pk), capped) for pk in ids}


def refunds_with_queue_facts(queryset: QuerySet[Refund]) -> QuerySet[Refund]:
    """What a lead scans on each row before deciding, as annotations (no query per row):
    ``possible_duplicate`` (same payment and amount within 24 h) and ``dual_threshold_minor`` (the
    currency's dual-approval threshold, null = always two). The customer's history is read once per
    page (``customers_refund_history``).
    """
    from backoffice.roles.models import DualApprovalThreshold

    return queryset.annotate(
        possible_duplicate=possible_duplicate_expression(),
        dual_threshold_minor=Subquery(DualApprovalThreshold.objects.filter(currency=OuterRef("currency"))
                                      .values("threshold_minor")[:1], output_field=BigIntegerField()),
    )


def refund_possible_duplicates(*, refund: Refund) -> list[Refund]:
    """Other refunds of the same amount on the same payment requested within 24 hours of this one."""
    return list(Refund.objects.filter(
        payment_id=refund.payment_id, amount_minor=refund.amount_minor,
        created_at__gte=refund.created_at - DUPLICATE_WINDOW, created_at__lte=refund.created_at + DUPLICATE_WINDOW,
    ).exclude(pk=refund.pk).order_by("created_at", "id")[:5])


def refunds_needing_attention():
    """Flagged refunds, the unresolved (still processing, or approved and held back) first, newest flag first."""
    from django.db.models import Case, IntegerField, Value, When

    return (Refund.objects.filter(needs_attention_at__isnull=False).select_related("payment")
            .annotate(open_first=Case(When(state__in=("processing", "approved"), then=Value(0)), default=Value(1),
                                      output_field=IntegerField()))
            .order_by("open_first", "-needs_attention_at", "-id"))
