"""Reads for the ledger pages (``/customers/<id>/``, ``/invoices/<id>/``, ``/payments/<id>/``).

Each section is one query for one page of rows with what the page shows joined in or annotated
(amount paid, what is left to refund, whether a dispute or extension is open), so a customer
with years of history costs the same few queries as a new one. Open balances are two
aggregates per customer, grouped by currency (amounts in different currencies are never added).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db.models import Count, F, OuterRef, QuerySet, Sum
from django.db.models.functions import Greatest

from .ledger import dispute_state_sets, refundable_minor_expression
from .models import EXTENSION_OPEN_STATES, Customer, Invoice, Payment, PaymentExtension
from .selectors import _paid_minor_subquery

OPEN_INVOICE_STATUSES = (Invoice.Status.OPEN, Invoice.Status.OVERDUE)
SECTION_SIZE = 20


@dataclass(frozen=True)
class Section:
    """One page of a section: ``rows``, and whether a previous / next page exists."""

    rows: list[Any]
    page: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def section(queryset: QuerySet, *, page: int = 1, size: int = SECTION_SIZE) -> Section:
    page = max(1, min(page, 10_000))
    start = (page - 1) * size
    rows = list(queryset[start: start + size + 1])
    return Section(rows=rows[:size], page=page, has_next=len(rows) > size)


def _dispute_model() -> Any | None:
    try:
        return apps.get_model("disputes", "Dispute")
    except LookupError:
        return None


def _refund_model() -> Any | None:
    try:
        return apps.get_model("refunds", "Refund")
    except LookupError:
        return None


def customer_get(*, customer_id: int) -> Customer | None:
    return Customer.objects.filter(pk=customer_id).first()


def invoices_with_balance(queryset: QuerySet[Invoice]) -> QuerySet[Invoice]:
    """``paid_minor``, ``amount_due_minor`` and the open extension's id on each invoice of the page."""
    open_extension = PaymentExtension.objects.filter(invoice_id=OuterRef("pk"), state__in=EXTENSION_OPEN_STATES)
    return (
        queryset.select_related("customer")
        .annotate(paid_minor=_paid_minor_subquery())
        .annotate(amount_due_minor=Greatest(F("amount_minor") - F("paid_minor"), 0))
        .annotate(open_extension_id=open_extension.values("pk")[:1])
    )


def payments_with_refundable(queryset: QuerySet[Payment]) -> QuerySet[Payment]:
    """``refundable_minor`` (the one definition, in refunds) and ``open_dispute_id`` on each payment."""
    queryset = queryset.select_related("customer", "invoice")
    queryset = queryset.annotate(refundable_minor=refundable_minor_expression())
    Dispute = _dispute_model()
    if Dispute is not None:
        open_dispute = Dispute.objects.filter(payment_id=OuterRef("pk"), state__in=dispute_state_sets()[1])
        queryset = queryset.annotate(open_dispute_id=open_dispute.values("pk")[:1])
    return queryset


def customer_invoices(*, customer_id: int, page: int = 1) -> Section:
    qs = Invoice.objects.filter(customer_id=customer_id).order_by("-due_at", "-id")
    return section(invoices_with_balance(qs), page=page)


def customer_payments(*, customer_id: int, page: int = 1) -> Section:
    qs = Payment.objects.filter(customer_id=customer_id).order_by("-captured_at", "-id")
    return section(payments_with_refundable(qs), page=page)


def customer_refunds(*, customer_id: int, page: int = 1) -> Section:
    Refund = _refund_model()
    if Refund is None:
        return Section([], 1, False)
    qs = (Refund.objects.filter(payment__customer_id=customer_id).select_related("payment", "requester")
          .order_by("-created_at", "-id"))
    return section(qs, page=page)


def customer_disputes(*, customer_id: int, page: int = 1) -> Section:
    Dispute = _dispute_model()
    if Dispute is None:
        return Section([], 1, False)
    qs = (Dispute.objects.filter(payment__customer_id=customer_id).select_related("payment", "reason_code")
          .order_by("-created_at", "-id"))
    return section(qs, page=page)


def customer_extensions(*, customer_id: int, page: int = 1) -> Section:
    qs = (PaymentExtension.objects.filter(invoice__customer_id=customer_id).select_related("invoice", "requester")
          .order_by("-created_at", "-id"))
    return section(qs, page=page)


@dataclass(frozen=True)
class Balance:
    currency: str
    invoiced_minor: int
    paid_minor: int
    open_invoices: int

    @property
    def due_minor(self) -> int:
        return max(self.invoiced_minor - self.paid_minor, 0)


def open_balance(*, invoices: QuerySet[Invoice]) -> list[Balance]:
    """What is still owed on the open and overdue invoices of ``invoices``, per currency (two queries)."""
    open_invoices = invoices.filter(status__in=OPEN_INVOICE_STATUSES)
    billed = {
        row["currency"]: row
        for row in open_invoices.order_by().values("currency").annotate(total=Sum("amount_minor"),
                                                                         count=Count("id"))
    }
    paid = dict(
        Payment.objects.filter(invoice__in=open_invoices.values("pk"))
        .order_by().values("invoice__currency").annotate(total=Sum("amount_minor"))
        .values_list("invoice__currency", "total")
    )
    return [
        Balance(currency=currency, invoiced_minor=row["total"] or 0, paid_minor=paid.get(currency) or 0,
                open_invoices=row["count"] or 0)
        for currency, row in sorted(billed.items())
    ]


def customer_open_balance(*, customer_id: int) -> list[Balance]:
    return open_balance(invoices=Invoice.objects.filter(customer_id=customer_id))


def invoice_get(*, invoice_id: int) -> Invoice | None:
    return invoices_with_balance(Invoice.objects.filter(pk=invoice_id)).first()


def invoice_lines(*, invoice_id: int) -> list[Any]:
    from .models import InvoiceLine

    return list(InvoiceLine.objects.filter(invoice_id=invoice_id).order_by("id")[:500])


def invoice_payments(*, invoice_id: int) -> list[Payment]:
    qs = Payment.objects.filter(invoice_id=invoice_id).order_by("-captured_at", "-id")
    return list(payments_with_refundable(qs)[:200])


def invoice_extensions(*, invoice_id: int) -> list[PaymentExtension]:
    return list(PaymentExtension.objects.filter(invoice_id=invoice_id).select_related("requester")
                .order_by("-created_at", "-id")[:100])


def payment_get(*, payment_id: int) -> Payment | None:
    return payments_with_refundable(Payment.objects.filter(pk=payment_id)).first()


def payment_refunds(*, payment_ids: list[int]) -> list[Any]:
    Refund = _refund_model()
    if Refund is None or not payment_ids:
        return []
    return list(Refund.objects.filter(payment_id__in=payment_ids).select_related("payment", "requester")
                .order_by("-created_at", "-id")[:200])


def payment_disputes(*, payment_ids: list[int]) -> list[Any]:
    Dispute = _dispute_model()
    if Dispute is None or not payment_ids:
        return []
    return list(Dispute.objects.filter(payment_id__in=payment_ids).select_related("payment", "reason_code")
                .order_by("-created_at", "-id")[:200])
