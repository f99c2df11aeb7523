"""Reads of refunds and of what a payment has left to refund.

What a payment has left to refund is computed in ONE place, ``refundable_minor_expression``:

    captured − refunds not failed, rejected or cancelled − lost or accepted dispute amounts

(never below zero). ``payment_refundable_minor`` (one payment, used under the payment's row lock by
the services), ``payments_refundable_minor`` (many ids, one query) and ``payment_list`` (the API's
annotated list) all use it. A lost or accepted dispute in another currency than the payment's
cannot be subtracted without an exchange rate, so it leaves nothing to refund (fail closed).

Disputes are read lazily through the app registry, so this module works while the disputes app
is absent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.apps import apps
from django.db.models import (
    BigIntegerField,
    Case,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import Expression
from django.db.models.functions import Coalesce, Greatest

from backoffice.errors import NotFound
from backoffice.filtering import apply_filterset
from backoffice.roles.models import ApprovalLimit, LimitAction
from backoffice.roles.predicates import can_read, is_worker, user_roles
from invoices.models import Payment

from .filters import RefundFilter
from .models import AWAITING_DECISION, RELEASED_STATES, Refund, RefundApproval

DISPUTE_OPEN_STATES = ("inquiry", "needs_response", "under_review")
DISPUTE_LOST_STATES = ("lost", "accepted")

LIST_RELATED = ("payment__customer", "payment__invoice", "requester", "assignee")


def dispute_model() -> Any | None:
    """The disputes app's ``Dispute`` model, or None while that app is not installed."""
    try:
        return apps.get_model("disputes", "Dispute")
    except LookupError:
        return None


def _sum_by_payment(queryset: QuerySet) -> Subquery:
    total = queryset.order_by().values("payment_id").annotate(total=Sum("amount_minor")).values("total")
    return Subquery(total, output_field=BigIntegerField())


def refundable_minor_expression() -> Expression:
    """Annotation for a ``Payment`` queryset: minor units still refundable (the one definition)."""
    zero = Value(0, output_field=BigIntegerField())
    committed = _sum_by_payment(Refund.objects.filter(payment_id=OuterRef("pk")).exclude(state__in=RELEASED_STATES))
    left = F("amount_minor") - Coalesce(committed, zero)
    Dispute = dispute_model()
    if Dispute is not None:
        lost = Dispute.objects.filter(payment_id=OuterRef("pk"), state__in=DISPUTE_LOST_STATES)
        lost_here = _sum_by_payment(lost.filter(currency=OuterRef("currency")))
        lost_elsewhere = Exists(lost.exclude(currency=OuterRef("currency")))
        left = Case(When(lost_elsewhere, then=zero), default=left - Coalesce(lost_here, zero),
                    output_field=BigIntegerField())
    return Greatest(left, zero, output_field=BigIntegerField())


def payment_refundable_minor(*, payment: Payment) -> int:
    """What is left to refund on ``payment``, in its minor units. Call under the payment's row lock to act on it."""
    return (
        Payment.objects.filter(pk=payment.pk)
        .annotate(refundable_minor=refundable_minor_expression())
        .values_list("refundable_minor", flat=True)
        .get()
    )


def payments_refundable_minor(*, payment_ids: Iterable[int]) -> dict[int, int]:
    """``{payment id: refundable minor units}`` for many payments in one query (unknown ids are left out)."""
    ids = {int(pk) for pk in payment_ids}
    if not ids:
        return {}
    rows = Payment.objects.filter(pk__in=ids).annotate(refundable_minor=refundable_minor_expression())
    return dict(rows.values_list("pk", "refundable_minor"))


def payment_has_open_dispute(*, payment: Payment) -> bool:
    """True while a dispute on the payment is open (inquiry, needs response, under review)."""
    Dispute = dispute_model()
    if Dispute is None:
        return False
    return Dispute.objects.filter(payment_id=payment.pk, state__in=DISPUTE_OPEN_STATES).exists()


def payment_list(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[Payment]:
    """Payments with ``refundable_minor`` annotated (no N+1), newest first; the ledger's FilterSet applies."""
    if not can_read(user):
        return Payment.objects.none()
    from invoices.selectors import payment_list as ledger_payment_list

    return ledger_payment_list(filters=filters).annotate(refundable_minor=refundable_minor_expression())


def payment_get(*, user: Any, payment_id: int) -> Payment:
    payment = payment_list(user=user).filter(pk=payment_id).first()
    if payment is None:
        raise NotFound(f"Payment {payment_id} does not exist.")
    return payment


def payment_find(*, user: Any, reference: str) -> Payment | None:
    """A payment by id (digits) or by the PSP's charge reference, for the refund request form."""
    reference = (reference or "").strip()
    if not reference or not can_read(user):
        return None
    qs = payment_list(user=user)
    if reference.isdigit():
        found = qs.filter(pk=int(reference)).first()
        if found is not None:
            return found
    return qs.filter(psp_reference=reference).first()


def _approvals_prefetch() -> Prefetch:
    return Prefetch("approvals", queryset=RefundApproval.objects.select_related("approver").order_by("step"))


def refund_list(*, user: Any, filters: Mapping[str, Any] | None = None, with_approvals: bool = False,
                request: Any = None) -> QuerySet[Refund]:
    """Refunds this user may read (every role reads all; no role, nothing), newest first."""
    if not can_read(user):
        return Refund.objects.none()
    qs = Refund.objects.select_related(*LIST_RELATED).order_by("-created_at", "-id")
    if with_approvals:
        qs = qs.prefetch_related(_approvals_prefetch())
    qs = apply_filterset(RefundFilter, qs, filters, request=request)
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



def refunds_needing_attention():
    """Flagged refunds, the unresolved (still processing) first, newest flag first."""
    from django.db.models import Case, IntegerField, Value, When

    return (Refund.objects.filter(needs_attention_at__isnull=False).select_related("payment")
            .annotate(open_first=Case(When(state="processing", then=Value(0)), default=Value(1),
                                      output_field=IntegerField()))
            .order_by("open_first", "-needs_attention_at", "-id"))
