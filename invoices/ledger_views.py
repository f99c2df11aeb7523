"""The ledger pages a ticket starts from: ``/customers/<id>/``, ``/invoices/<id>/``, ``/payments/<id>/``.

Each shows the row with what is related to it (invoices, payments, refunds, disputes,
extensions), the open balance, a short history, and on each row only the actions that can
succeed for this user: "Refund" on a payment with something left to refund and no open
dispute, "Request extension" on an unpaid invoice without an open extension, "Open dispute"
for a dispute the PSP reported outside the webhook. Reading is open to every role; the
actions are links to the request forms, whose services decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from backoffice.parsing import parse_page
from backoffice.roles.predicates import can_read, is_worker

from . import ledger_selectors as ledger
from .models import Invoice, Payment
from .services import EXTENSION_ELIGIBLE_STATUSES


@dataclass(frozen=True)
class Action:
    label: str
    url: str
    name: str  # a stable hook for tests and keyboard users: "refund", "extension", "dispute"


@dataclass(frozen=True)
class Note:
    text: str
    url: str = ""


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str
    text: str
    url: str = ""


def _reader_or_404(request) -> None:
    if not can_read(request.user):
        raise Http404("No role")


def _int(value: Any, default: int = 1) -> int:
    """A page number of one of the customer's lists (a bad one answers 400 through the input middleware)."""
    return parse_page(value, max_page=99_999) if value not in (None, "") else default


def payment_actions(payment: Payment, user: Any) -> tuple[list[Action], list[Note]]:
    """What this user can do with a payment now, and why an action is missing when it is."""
    actions: list[Action] = []
    notes: list[Note] = []
    open_dispute_id = getattr(payment, "open_dispute_id", None)
    refundable = getattr(payment, "refundable_minor", None)
    if open_dispute_id:
        notes.append(Note("Open dispute: no refund until it is resolved.",
                          reverse("disputes:detail", args=[open_dispute_id])))
    elif refundable is not None and refundable <= 0:
        notes.append(Note("Nothing left to refund."))
    if not is_worker(user):
        return actions, notes
    if not open_dispute_id and refundable:
        actions.append(Action("Refund", f"{reverse('refunds:new')}?payment={payment.pk}", "refund"))
    if not open_dispute_id:
        actions.append(Action("Open dispute", f"{reverse('disputes:new')}?payment={payment.pk}", "dispute"))
    return actions, notes


def invoice_actions(invoice: Invoice, user: Any) -> tuple[list[Action], list[Note]]:
    actions: list[Action] = []
    notes: list[Note] = []
    open_extension_id = getattr(invoice, "open_extension_id", None)
    unpaid = invoice.status in EXTENSION_ELIGIBLE_STATUSES and invoice.amount_due_minor > 0
    if open_extension_id:
        notes.append(Note("Extension open.", reverse("extensions:detail", args=[open_extension_id])))
    if unpaid and not open_extension_id and is_worker(user):
        actions.append(Action("Request extension", f"{reverse('extensions:new')}?invoice={invoice.pk}", "extension"))
    return actions, notes


def _with_actions(rows: list[Any], fn, user) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        actions, notes = fn(row, user)
        out.append({"row": row, "actions": actions, "notes": notes})
    return out


def _history(*, invoices=(), payments=(), refunds=(), disputes=(), extensions=(), limit: int = 30) -> list[Event]:
    """What happened to this customer (or invoice, payment), newest first, from the rows already loaded."""
    events: list[Event] = []
    for invoice in invoices:
        url = reverse("invoice-detail", args=[invoice.pk])
        events.append(Event(invoice.issued_at, "invoice", f"Invoice {invoice.number} issued", url))
        if invoice.paid_at:
            events.append(Event(invoice.paid_at, "invoice", f"Invoice {invoice.number} paid in full", url))
    for payment in payments:
        events.append(Event(payment.captured_at, "payment", f"Payment {payment.psp_reference} captured",
                            reverse("payment-detail", args=[payment.pk])))
    for refund in refunds:
        events.append(Event(refund.created_at, "refund",
                            f"Refund {refund.reference} requested by {refund.requester.get_username()} — now "
                            f"{refund.get_state_display().lower()}", reverse("refunds:detail", args=[refund.pk])))
    for dispute in disputes:
        events.append(Event(dispute.created_at, "dispute",
                            f"Dispute {dispute.reference} ({dispute.reason_code.code}) opened — now "
                            f"{dispute.get_state_display().lower()}", reverse("disputes:detail", args=[dispute.pk])))
    for extension in extensions:
        events.append(Event(extension.created_at, "extension",
                            f"Extension {extension.reference} to {extension.new_due_date:%Y-%m-%d} requested — now "
                            f"{extension.get_state_display().lower()}",
                            reverse("extensions:detail", args=[extension.pk])))
    events.sort(key=lambda event: event.at, reverse=True)
    return events[:limit]


@login_required
def customer_detail(request, pk: int):
    _reader_or_404(request)
    customer = ledger.customer_get(customer_id=pk)
    if customer is None:
        raise Http404("No such customer")
    user = request.user
    invoices = ledger.customer_invoices(customer_id=pk, page=_int(request.GET.get("invoices")))
    payments = ledger.customer_payments(customer_id=pk, page=_int(request.GET.get("payments")))
    refunds = ledger.customer_refunds(customer_id=pk, page=_int(request.GET.get("refunds")))
    disputes = ledger.customer_disputes(customer_id=pk, page=_int(request.GET.get("disputes")))
    extensions = ledger.customer_extensions(customer_id=pk, page=_int(request.GET.get("extensions")))
    return render(request, "ledger/customer.html", {
        "customer": customer,
        "balance": ledger.customer_open_balance(customer_id=pk),
        "invoices": invoices,
        "invoice_rows": _with_actions(invoices.rows, invoice_actions, user),
        "payments": payments,
        "payment_rows": _with_actions(payments.rows, payment_actions, user),
        "refunds": refunds,
        "disputes": disputes,
        "extensions": extensions,
        "history": _history(invoices=invoices.rows, payments=payments.rows, refunds=refunds.rows,
                            disputes=disputes.rows, extensions=extensions.rows),
        "can_write": bool(is_worker(user)),
    })


@login_required
def invoice_detail(request, pk: int):
    _reader_or_404(request)
    invoice = ledger.invoice_get(invoice_id=pk)
    if invoice is None:
        raise Http404("No such invoice")
    user = request.user
    payments = ledger.invoice_payments(invoice_id=pk)
    payment_ids = [p.pk for p in payments]
    refunds = ledger.payment_refunds(payment_ids=payment_ids)
    disputes = ledger.payment_disputes(payment_ids=payment_ids)
    extensions = ledger.invoice_extensions(invoice_id=pk)
    actions, notes = invoice_actions(invoice, user)
    return render(request, "ledger/invoice.html", {
        "invoice": invoice,
        "customer": invoice.customer,
        "lines": ledger.invoice_lines(invoice_id=pk),
        "payment_rows": _with_actions(payments, payment_actions, user),
        "refunds": refunds,
        "disputes": disputes,
        "extensions": extensions,
        "page_item": {"actions": actions, "notes": notes},
        "history": _history(invoices=[invoice], payments=payments, refunds=refunds, disputes=disputes,
                            extensions=extensions),
    })


@login_required
def payment_detail(request, pk: int):
    _reader_or_404(request)
    payment = ledger.payment_get(payment_id=pk)
    if payment is None:
        raise Http404("No such payment")
    user = request.user
    refunds = ledger.payment_refunds(payment_ids=[pk])
    disputes = ledger.payment_disputes(payment_ids=[pk])
    actions, notes = payment_actions(payment, user)
    return render(request, "ledger/payment.html", {
        "payment": payment,
        "customer": payment.customer,
        "invoice": payment.invoice,
        "refunds": refunds,
        "disputes": disputes,
        "page_item": {"actions": actions, "notes": notes},
        "history": _history(payments=[payment], refunds=refunds, disputes=disputes),
    })
