"""Refund pages: the request form from a payment, the refund page, the credit note download."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from backoffice.errors import DomainError, PermissionDenied
from backoffice.money import MoneyError, currency_exponent, format_minor, parse_minor
from backoffice.roles.predicates import can_read, is_worker
from backoffice.web.errors import page_error_response
from backoffice.web.views import CaseDetailView

from .credit_note import credit_note_available, credit_note_number, credit_note_pdf
from .models import RefundReason
from .selectors import (
    payment_find,
    payment_has_open_dispute,
    refund_approvals,
    refund_list,
)
from .services import refund_request


def _forbidden(request, message: str):
    return render(request, "403.html", {"message": message}, status=403)


@login_required
def refund_new(request):
    """``/refunds/new/?payment=<id or PSP reference>``: what is left to refund, and the request form."""
    user = request.user
    if not can_read(user):
        raise Http404("No role")
    if not is_worker(user):
        return _forbidden(request, "Only billing specialists and team leads request refunds.")
    lookup = (request.POST.get("payment") or request.GET.get("payment") or "").strip()
    payment = payment_find(user=user, reference=lookup) if lookup else None
    context: dict[str, Any] = {"lookup": lookup, "payment": payment, "reasons": RefundReason.choices,
                               "errors": {}, "values": {}}
    if payment is None:
        status = 200
        if lookup:
            context["errors"]["payment"] = f"No payment with id or PSP reference {lookup!r}."
            status = 404
        return render(request, "refunds/new.html", context, status=status)

    values = {
        "amount": (request.POST.get("amount") or "").strip(),
        "reason": request.POST.get("reason") or "",
        "note": request.POST.get("note") or "",
        "idempotency_key": request.POST.get("idempotency_key") or uuid.uuid4().hex,
    }
    context["values"] = values
    status = 200
    if request.method == "POST":
        errors: dict[str, str] = context["errors"]
        amount_minor = None
        try:
            amount_minor = parse_minor(values["amount"], payment.currency)
        except MoneyError as err:
            errors["amount"] = err.message
        if values["reason"] not in RefundReason.values:
            errors["reason"] = "Choose a reason."
        if not errors:
            try:
                refund = refund_request(
                    payment=payment, requester=user, amount_minor=amount_minor, reason=values["reason"],
                    note=values["note"], idempotency_key=values["idempotency_key"][:255],
                )
            except PermissionDenied as err:
                return page_error_response(request, err, redirect_to=None)
            except DomainError as err:
                errors["form"] = f"{err.message} ({err.code})"
                status = err.status
            else:
                messages.success(request, f"{refund.reference} requested: it now waits for approval.")
                return redirect("refunds:detail", refund.pk)
        else:
            status = 400
        # Show what is left now, not when the page was first loaded.
        payment = payment_find(user=user, reference=str(payment.pk))
        context["payment"] = payment
    exponent = currency_exponent(payment.currency)
    context.update(
        refundable=format_minor(payment.refundable_minor, payment.currency),
        captured=format_minor(payment.amount_minor, payment.currency),
        disputed=payment_has_open_dispute(payment=payment),
        amount_placeholder="1500" if exponent == 0 else f"12.{'5' * exponent}",
    )
    return render(request, "refunds/new.html", context, status=status)


class RefundDetailView(CaseDetailView):
    """``/refunds/<id>/``: facts, approvals, the buttons this user may press, the timeline."""

    type_key = "refunds"
    template_name = "refunds/detail.html"

    def get_case(self):
        if not can_read(self.request.user):
            raise Http404("No role")
        refund = refund_list(user=self.request.user, with_approvals=True).filter(pk=self.kwargs["pk"]).first()
        if refund is None:
            raise Http404("No such refund")
        return refund

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        refund = context["case"]
        payment = payment_find(user=self.request.user, reference=str(refund.payment_id))
        context.update(
            refund=refund,
            payment=payment,
            approvals=refund_approvals(refund=refund),
            amount=format_minor(refund.amount_minor, refund.currency),
            captured=format_minor(payment.amount_minor, payment.currency),
            refundable=format_minor(payment.refundable_minor, payment.currency),
            credit_note=credit_note_number(refund=refund) if credit_note_available(refund=refund) else "",
            destructive_transitions={"reject", "cancel"},
            can_request=bool(is_worker(self.request.user)),
        )
        return context


@login_required
def credit_note_download(request, pk: int):
    """``/refunds/<id>/credit-note.pdf``: every role reads it once the refund has succeeded."""
    if not can_read(request.user):
        raise Http404("No role")
    refund = refund_list(user=request.user).filter(pk=pk).first()
    if refund is None:
        raise Http404("No such refund")
    try:
        pdf = credit_note_pdf(refund=refund)
    except DomainError as err:
        return page_error_response(request, err, redirect_to=redirect(reverse("refunds:detail", args=[pk])))
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{credit_note_number(refund=refund)}.pdf"'
    return response


@login_required
def needs_attention(request):
    """``/refunds/needs-attention/`` (team leads): refunds the PSP never answered finally in time, and
    refunds made at the PSP beyond what was left. Retrying stopped; a person checks them at the PSP."""
    from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
    from django.core.paginator import Paginator

    from backoffice.roles.predicates import is_team_lead

    from .selectors import refunds_needing_attention

    if not is_team_lead(request.user):
        raise DjangoPermissionDenied
    page = Paginator(refunds_needing_attention(), 25).get_page(request.GET.get("page"))
    return render(request, "refunds/needs_attention.html", {"page": page})
