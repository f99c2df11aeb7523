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
from backoffice.money import MoneyError, currency_exponent, parse_minor
from backoffice.roles.predicates import can_read, is_team_lead, is_worker
from backoffice.web.errors import page_error_response, page_refusal
from backoffice.web.templatetags.ui import money_text
from backoffice.web.views import CaseDetailView

from .credit_note import credit_note_available, credit_note_number, credit_note_pdf
from .models import Refund, RefundReason, RefundState
from .policy import needs_second_approval
from .selectors import (
    payment_find,
    payment_has_open_dispute,
    refund_approvals,
    refund_for_form_token,
    refund_list,
    refund_possible_duplicates,
)
from .services import refund_request


@login_required
def refund_new(request):
    """``/refunds/new/?payment=<id or PSP reference>``: what is left to refund, and the request form."""
    user = request.user
    if not can_read(user):
        raise Http404("No role")
    if not is_worker(user):
        return page_refusal(request, model=Refund, action="create",
                            message="Only billing specialists and team leads request refunds.")
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
        "confirm_duplicate": request.POST.get("confirm_duplicate") == "yes",
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
        key = values["idempotency_key"][:255]
        already = refund_for_form_token(requester=user, token=key) if not errors else None
        if already is not None:
            # The same form sent again (Back and resubmit, a double click): the same request, not a new one.
            messages.info(request, f"This form was already sent and requested {already.reference}: no second "
                                   "refund was created. To request another refund, open a new form.")
            return redirect("refunds:detail", already.pk)
        if not errors:
            try:
                refund = refund_request(
                    payment=payment, requester=user, amount_minor=amount_minor, reason=values["reason"],
                    note=values["note"], idempotency_key=key, confirm_duplicate=values["confirm_duplicate"],
                )
            except PermissionDenied as err:
                return page_error_response(request, err, redirect_to=None)
            except DomainError as err:
                if err.code == "possible_duplicate":
                    # A question, not a failure: the same form again, asking for an explicit "yes".
                    context["duplicate"] = {"message": err.message, "references": err.extra.get("duplicates", [])}
                else:
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
        refundable=money_text(payment.refundable_minor, payment.currency),
        captured=money_text(payment.amount_minor, payment.currency),
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
        approvals = refund_approvals(refund=refund)
        awaiting = refund.state in (RefundState.PENDING_APPROVAL, RefundState.PENDING_SECOND_APPROVAL)
        context.update(
            refund=refund,
            payment=payment,
            approvals=approvals,
            amount=money_text(refund.amount_minor, refund.currency),
            captured=money_text(payment.amount_minor, payment.currency),
            refundable=money_text(payment.refundable_minor, payment.currency),
            credit_note=credit_note_number(refund=refund) if credit_note_available(refund=refund) else "",
            destructive_transitions={"reject", "cancel"},
            can_request=bool(is_worker(self.request.user)),
            is_lead=bool(is_team_lead(self.request.user)),
            possible_duplicates=refund_possible_duplicates(refund=refund),
            approvals_needed=(2 if needs_second_approval(refund=refund) else 1) if awaiting else 0,
            approvals_has=sum(1 for a in approvals if a.decision == "approved") if awaiting else 0,
            failure_advice=FAILURE_ADVICE.get(refund.failure_code, FAILURE_ADVICE[""]),
        )
        return context


# What a specialist can do about a failed refund, by the PSP's failure code.
FAILURE_ADVICE = {
    "expired_or_canceled_card": "The customer's card has expired or was cancelled: the money cannot go back to it. "
                                "Ask the customer for another way to be paid back.",
    "charge_for_pending_refund_disputed": "The payment is now disputed: the dispute decides what is paid back.",
    "lost_or_stolen_card": "The card was reported lost or stolen: contact the customer before refunding again.",
    "insufficient_funds": "The PSP's balance was too low: a team lead can retry once funds are available.",
    "": "The refunded amount is free again on the payment: you can request a new refund once the cause is "
        "fixed, or ask a team lead to retry the same one.",
}


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
