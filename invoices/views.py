"""Pages for payment extensions: the request form (from an invoice) and the extension page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from backoffice.errors import DomainError, PermissionDenied
from backoffice.money import format_minor
from backoffice.parsing import DateFormField
from backoffice.roles.predicates import can_read, is_worker
from backoffice.web.errors import page_error_response, page_refusal
from backoffice.web.views import CaseDetailView

from .models import Invoice, PaymentExtension, utc_date
from .policy import DECISIONS, decision_refusal, extension_approval_limit, may_decide
from .selectors import (
    customer_broke_promise_recently,
    invoice_find,
    invoice_get,
    invoice_open_extension,
    invoice_paid_in_full_at,
)
from .services import EXTENSION_ELIGIBLE_STATUSES, REASON_MAX_CHARS, extension_request

# Error codes that are about the date the user typed: shown next to the date field.
_DATE_CODES = {"new_due_date_not_after_current", "new_due_date_in_past", "extension_too_long", "invalid_date"}


class ExtensionRequestForm(forms.Form):
    new_due_date = DateFormField(
        label="New due date (UTC)", max_length=10, widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The customer promises to pay in full by 23:59 UTC on this date.",
    )
    reason = forms.CharField(
        label="Reason", max_length=REASON_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Why the customer needs more time"}),
    )


def _invoice_facts(invoice: Invoice) -> dict[str, Any]:
    return {
        "amount": format_minor(invoice.amount_minor, invoice.currency),
        "paid": format_minor(invoice.paid_minor, invoice.currency),
        "due": format_minor(max(invoice.amount_due_minor, 0), invoice.currency),
        "due_date": utc_date(invoice.due_at),
        "eligible": invoice.status in EXTENSION_ELIGIBLE_STATUSES and invoice.amount_due_minor > 0,
    }


@login_required
@require_http_methods(["GET", "POST"])
def extension_request_view(request):
    """``/extensions/new/?invoice=<id>`` (or ``?number=INV-…``): the invoice's facts and the request form."""
    if not can_read(request.user):
        raise Http404("No role")
    if not is_worker(request.user):
        return page_refusal(request, model=PaymentExtension, action="request",
                            message="Auditors read extensions; they do not request them.")
    raw_id = request.POST.get("invoice") or request.GET.get("invoice")
    number = (request.GET.get("number") or "").strip()
    invoice = invoice_get(invoice_id=raw_id) if raw_id else invoice_find(number=number) if number else None
    if invoice is None:
        lookup_error = "No invoice has that number or id." if (raw_id or number) else ""
        return render(request, "extensions/request.html", {"invoice": None, "number": number,
                                                           "lookup_error": lookup_error},
                      status=404 if lookup_error else 200)

    form = ExtensionRequestForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                extension = extension_request(actor=request.user, invoice=invoice.pk,
                                              new_due_date=form.cleaned_data["new_due_date"],
                                              reason=form.cleaned_data["reason"])
            except PermissionDenied as err:
                return page_error_response(request, err, redirect_to=None)
            except DomainError as err:
                field = "new_due_date" if err.code in _DATE_CODES else "reason" if err.code.startswith(
                    "reason_") else None
                form.add_error(field, f"{err.message} ({err.code})")
            else:
                messages.success(request, f"{extension.reference} requested: {extension.days_requested} days, "
                                          f"until {extension.new_due_date:%Y-%m-%d}.")
                return redirect(extension.get_absolute_url())
        status = 400
    context = {
        "invoice": invoice,
        "facts": _invoice_facts(invoice),
        "form": form,
        "open_extension": invoice_open_extension(invoice_id=invoice.pk),
        "broke_promise": customer_broke_promise_recently(customer_id=invoice.customer_id),
        "limit_days": extension_approval_limit(user=request.user),
    }
    return render(request, "extensions/request.html", context, status=status)


class ExtensionDetailView(CaseDetailView):
    """``/extensions/<id>/``: facts, days requested against this user's limit, the actions open
    to this user (approval only within their limit and never on their own request), the timeline."""

    type_key = "extensions"
    template_name = "extensions/detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        extension: PaymentExtension = context["case"]
        user = self.request.user
        invoice = invoice_get(invoice_id=extension.invoice_id)
        limit = extension_approval_limit(user=user) if may_decide(user) else None
        transitions = list(context["transitions"])
        approval_note = ""
        for name in DECISIONS:
            refusal = decision_refusal(extension=extension, user=user, name=name) if name in transitions else None
            if refusal is not None:
                transitions.remove(name)
                approval_note = approval_note or refusal.message
        paid_in_full_at = invoice_paid_in_full_at(invoice=invoice)
        context.update(
            transitions=transitions,
            approval_note=approval_note,
            limit_days=limit,
            invoice=invoice,
            invoice_facts=_invoice_facts(invoice),
            paid_in_full_at=paid_in_full_at,
            kept=paid_in_full_at is not None and paid_in_full_at <= extension.deadline,
            destructive_transitions=("reject", "cancel"),
        )
        return context
