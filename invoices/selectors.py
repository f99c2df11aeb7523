"""Reads of the ledger and of payment extensions: every queryset a view, API or task needs, with
what the list shows joined in (a fixed number of queries per page, no N+1)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from backoffice.errors import NotFound
from backoffice.parsing import id_or_none
from backoffice.roles.predicates import can_read

from .models import EXTENSION_OPEN_STATES, Customer, ExtensionState, Invoice, Payment, PaymentExtension

# A customer who broke a promise to pay within this window is flagged on new requests.
BROKEN_PROMISE_LOOKBACK = timedelta(days=365)


def invoice_paid_minor(*, invoice: Invoice) -> int:
    """What has been captured against the invoice, in its minor units (0 when nothing was paid)."""
    return invoice.payments.aggregate(total=Sum("amount_minor"))["total"] or 0


def customer_list() -> QuerySet[Customer]:
    return Customer.objects.order_by("-id")


def invoice_paid_in_full_at(*, invoice: Invoice) -> datetime | None:
    """When the invoice became paid in full, or None while it is not.

    The earlier of the ledger's ``paid_at`` and the capture at which the running total of its
    payments (in capture order) first reached the invoice's amount.
    """
    moments = [invoice.paid_at] if invoice.paid_at is not None else []
    running = 0
    payments = Payment.objects.filter(invoice_id=invoice.pk).order_by("captured_at", "id")
    for amount, captured_at in payments.values_list("amount_minor", "captured_at"):
        running += amount
        if running >= invoice.amount_minor:
            moments.append(captured_at)
            break
    return min(moments, default=None)


def _paid_minor_subquery() -> Coalesce:
    paid = (
        Payment.objects.filter(invoice_id=OuterRef("pk"))
        .order_by()
        .values("invoice_id")
        .annotate(total=Sum("amount_minor"))
        .values("total")
    )
    return Coalesce(Subquery(paid), 0)


def invoice_list(*, with_paid_minor: bool = False) -> QuerySet[Invoice]:
    """Invoices, newest first; ``with_paid_minor`` adds ``paid_minor`` and ``amount_due_minor``
    (a correlated subquery per row of the page, not a GROUP BY over the whole filtered set)."""
    queryset = Invoice.objects.select_related("customer").order_by("-id")
    if with_paid_minor:
        queryset = queryset.annotate(paid_minor=_paid_minor_subquery()).annotate(
            amount_due_minor=F("amount_minor") - F("paid_minor")
        )
    return queryset


def invoice_get(*, invoice_id: Any) -> Invoice | None:
    """One invoice with its customer, ``paid_minor`` and ``amount_due_minor``; None when there is none."""
    pk = id_or_none(invoice_id)
    if pk is None:
        return None
    return invoice_list(with_paid_minor=True).filter(pk=pk).first()


def invoice_find(*, number: str) -> Invoice | None:
    """An invoice by its number (``INV-2026-000123``, any case) or by its id."""
    number = (number or "").strip()
    if not number:
        return None
    found = invoice_list(with_paid_minor=True).filter(number__iexact=number).first()
    if found is None and id_or_none(number) is not None:
        found = invoice_get(invoice_id=id_or_none(number))
    return found


def payment_list() -> QuerySet[Payment]:
    return Payment.objects.select_related("invoice", "customer").order_by("-id")


# ---- payment extensions -----------------------------------------------------------------------

EXTENSION_LIST_RELATED = ("invoice__customer", "requester", "assignee", "decided_by")


def extension_list(
    *, user: Any
) -> QuerySet[PaymentExtension]:
    """Extensions this user may read (every role reads all; no role, nothing), soonest promise first."""
    if not can_read(user):
        return PaymentExtension.objects.none()
    queryset = PaymentExtension.objects.select_related(*EXTENSION_LIST_RELATED).order_by("due_at", "id")
    return queryset


def extension_get(*, user: Any, extension_id: int) -> PaymentExtension:
    extension = extension_list(user=user).filter(pk=extension_id).first()
    if extension is None:
        raise NotFound(f"Extension {extension_id} does not exist.")
    return extension


def invoice_open_extension(*, invoice_id: int) -> PaymentExtension | None:
    """The invoice's open (requested or approved) extension; there is at most one."""
    return PaymentExtension.objects.filter(invoice_id=invoice_id, state__in=EXTENSION_OPEN_STATES).first()


def customer_broke_promise_recently(*, customer_id: int, now: datetime | None = None) -> bool:
    """Whether any extension of this customer's invoices was broken in the last 12 months."""
    since = (now or timezone.now()) - BROKEN_PROMISE_LOOKBACK
    return PaymentExtension.objects.filter(
        invoice__customer_id=customer_id, state=ExtensionState.BROKEN, closed_at__gte=since
    ).exists()


def extensions_to_check(*, now: datetime, after_id: int = 0, limit: int | None = None) -> list[int]:
    """Approved extensions whose outcome may be decided now: the promise's deadline has passed,
    or the ledger already shows the invoice paid (kept early). Ids only, in id order after
    ``after_id`` (keyset), at most ``limit``: the task re-fetches each."""
    qs = (
        PaymentExtension.objects.filter(state=ExtensionState.APPROVED, pk__gt=after_id)
        .filter(Q(due_at__lt=now) | Q(invoice__status=Invoice.Status.PAID) | Q(invoice__paid_at__isnull=False))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return list(qs[:limit] if limit is not None else qs)
