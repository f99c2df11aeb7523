"""Dispute pages: the case page, manual entry, evidence upload and the evidence packet PDF."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from backoffice.errors import DomainError, InvalidInput, NotFound, PermissionDenied
from backoffice.money import MoneyError, parse_minor
from backoffice.web.errors import page_action, page_error_response, page_refusal
from backoffice.web.views import CaseDetailView

from . import policy
from .forms import DisputeEntryForm, EvidenceForm
from .models import OPEN_STATES, CoverLetterTemplate, Dispute, DisputeState, EvidenceItem, ReasonCode
from .packet import dispute_packet_pdf
from .selectors import (
    dispute_checklist,
    dispute_cover_letter_text,
    dispute_evidence,
    dispute_get,
    dispute_has_own_letter,
    dispute_open_proposal,
    payment_find,
)
from .services import (
    dispute_cover_letter_save,
    dispute_create,
    dispute_decline_proposal,
    dispute_propose_accept,
    evidence_add,
)

TRANSITION_LABELS = {
    "open_chargeback": "Open chargeback",
    "close_inquiry": "Close inquiry",
    "submit_evidence": "Submit evidence",
    "accept": "Accept liability",
    "mark_won": "Mark won",
    "mark_lost": "Mark lost",
    "reopen": "Reopen at next stage",
}


def _dispute_or_404(request, pk: int) -> Dispute:
    try:
        return dispute_get(user=request.user, dispute_id=pk)
    except NotFound as exc:
        raise Http404("No such dispute") from exc


class DisputeDetailView(CaseDetailView):
    type_key = "disputes"
    template_name = "disputes/detail.html"

    def get_case(self):
        return _dispute_or_404(self.request, self.kwargs["pk"])

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        dispute: Dispute = context["case"]
        user = self.request.user
        checklist = dispute_checklist(dispute=dispute)
        lead = policy.allows("decide", user)
        past_deadline = dispute.due_at is not None and timezone.now() >= dispute.due_at
        hidden, notes = _unavailable_actions(dispute, checklist=checklist, lead=lead, past_deadline=past_deadline)
        proposal = dispute_open_proposal(dispute=dispute)
        can_write = policy.allows("add_evidence", user)
        context.update(
            dispute=dispute,
            reason=dispute.reason_code,
            payment=dispute.payment,
            checklist=checklist,
            evidence=list(dispute_evidence(dispute=dispute)),
            evidence_form=EvidenceForm(),
            can_add_evidence=can_write and dispute.accepts_evidence,
            is_lead=lead,
            deadline_active=dispute.state in OPEN_STATES,
            past_deadline=past_deadline,
            transition_buttons=[(name, TRANSITION_LABELS.get(name, name.replace("_", " ").capitalize()))
                                for name in context["transitions"] if name not in hidden],
            action_notes=notes,
            proposal=proposal,
            can_propose=(can_write and not lead and proposal is None
                         and dispute.state == DisputeState.NEEDS_RESPONSE and not past_deadline),
            cover_letter=dispute_cover_letter_text(dispute=dispute) if dispute.accepts_evidence else "",
            can_edit_letter=can_write and dispute.accepts_evidence,
            letter_edited=dispute_has_own_letter(dispute=dispute),
            letter_has_template=CoverLetterTemplate.objects.filter(reason_code_id=dispute.reason_code_id).exists(),
            destructive_transitions={"accept", "close_inquiry"},
            psp_submission=dispute.psp_submissions.filter(stage=dispute.stage).first(),
        )
        return context


def _unavailable_actions(dispute: Dispute, *, checklist, lead: bool, past_deadline: bool) -> tuple[set[str], list[str]]:
    """Transitions that would be refused now (hidden), and a sentence saying why, so no button is a dead end."""
    hidden: set[str] = set()
    notes: list[str] = []
    if dispute.state == DisputeState.NEEDS_RESPONSE and past_deadline:
        hidden.add("submit_evidence")
        notes.append("The network's response deadline has passed: evidence can no longer be submitted. The dispute "
                     "expires automatically.")
    elif dispute.state == DisputeState.NEEDS_RESPONSE and not checklist.complete and not lead:
        hidden.add("submit_evidence")
        notes.append(f"Add the missing evidence to submit: {'; '.join(checklist.missing_labels)}. "
                     "(A team lead may submit without it, with a reason.)")
    return hidden, notes


@login_required
@require_POST
def psp_resend(request, pk: int):
    """A team lead sends evidence the PSP refused (or never received) again."""
    from .psp_evidence import dispute_psp_resubmit

    dispute = _dispute_or_404(request, pk)
    back = redirect(reverse("disputes:detail", args=[dispute.pk]))
    return page_action(request, lambda: dispute_psp_resubmit(dispute_id=dispute.pk, actor=request.user),
                       success=f"{dispute.reference}: the evidence is being sent to the PSP again.", redirect_to=back)


@login_required
@require_POST
def evidence_upload(request, pk: int):
    dispute = _dispute_or_404(request, pk)
    back = redirect(reverse("disputes:detail", args=[dispute.pk]))
    form = EvidenceForm(request.POST, request.FILES)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
        return back
    return page_action(request, lambda: evidence_add(dispute_id=dispute.pk, actor=request.user,
                                                     kind=form.cleaned_data["kind"], text=form.cleaned_data["text"],
                                                     upload=form.cleaned_data["file"]),
                       success=lambda item: f"Evidence added: {item.get_kind_display()}.", redirect_to=back)


@login_required
def packet_pdf(request, pk: int):
    dispute = _dispute_or_404(request, pk)
    pdf, is_preview = dispute_packet_pdf(dispute=dispute, preview=request.GET.get("preview") == "1")
    response = HttpResponse(pdf, content_type="application/pdf")
    suffix = "-preview" if is_preview else ""
    response["Content-Disposition"] = f'inline; filename="{dispute.reference}-evidence-packet{suffix}.pdf"'
    return response


_FIELD_FOR_CODE = {
    "invalid_amount": "amount", "amount_not_positive": "amount", "too_many_decimals": "amount",
    "amount_exceeds_captured": "amount", "invalid_currency": "currency", "invalid_network": "network",
    "network_mismatch": "network", "unknown_reason_code": "reason_code",
    "reason_code_network_mismatch": "reason_code", "dispute_exists": "psp_dispute_id",
    "invalid_psp_dispute_id": "psp_dispute_id", "invalid_psp": "psp", "invalid_stage": "stage",
    "invalid_due_at": "due_at",
}


def _entry_form_page(request, form: DisputeEntryForm, *, status: int = 200):
    return render(request, "disputes/new.html", {"form": form}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def dispute_new(request):
    if not policy.allows("create", request.user):
        return page_refusal(request, model=Dispute, action="create",
                            message="Only specialists and team leads enter disputes.")
    if request.method == "GET":
        return _entry_form_page(request, DisputeEntryForm(initial={"payment": request.GET.get("payment", "")}))
    form = DisputeEntryForm(request.POST)
    if not form.is_valid():
        return _entry_form_page(request, form, status=400)
    data = form.cleaned_data
    payment = payment_find(reference=data["payment"])
    if payment is None:
        form.add_error("payment", f"No payment has the id or PSP reference '{data['payment']}'.")
        return _entry_form_page(request, form, status=400)
    currency = data["currency"].strip().upper()
    try:
        amount_minor = parse_minor(data["amount"], currency)
    except MoneyError as err:
        form.add_error("currency" if err.code == "invalid_currency" else "amount", err.message)
        return _entry_form_page(request, form, status=400)
    reason_code = ReasonCode.objects.filter(pk=data["reason_code"]).first()
    if reason_code is None:
        form.add_error("reason_code", "Choose a reason code from the catalogue.")
        return _entry_form_page(request, form, status=400)
    try:
        dispute = dispute_create(
            actor=request.user, payment=payment, amount_minor=amount_minor, currency=currency,
            network=data["network"], reason_code=reason_code, psp=data["psp"],
            psp_dispute_id=data["psp_dispute_id"], due_at=data["due_at"], stage=data["stage"],
            reason="manual entry",
        )
    except PermissionDenied as err:
        return page_error_response(request, err, redirect_to=None)
    except DomainError as err:
        form.add_error(_FIELD_FOR_CODE.get(err.code), f"{err.message} ({err.code})")
        return _entry_form_page(request, form, status=400)
    messages.success(request, f"Dispute {dispute.reference} recorded.")
    return redirect(reverse("disputes:detail", args=[dispute.pk]))


@login_required
def dispute_index(request):
    return redirect(f"{reverse('queue', args=['all'])}?type=disputes")


@login_required
def evidence_file(request, pk: int, item_id: int):
    """One evidence file, for anyone who may read the dispute (never a public media URL)."""
    from backoffice.web.files import file_response

    dispute = _dispute_or_404(request, pk)
    item = EvidenceItem.objects.filter(dispute_id=dispute.pk, pk=item_id).exclude(file="").first()
    if item is None:
        raise Http404("No such evidence file")
    return file_response(item.file, name=item.original_name, mime_type=item.mime_type)


@login_required
@require_POST
def cover_letter_save(request, pk: int):
    dispute = _dispute_or_404(request, pk)
    back = redirect(f"{reverse('disputes:detail', args=[dispute.pk])}#cover-letter")
    body = "" if request.POST.get("action") == "reset" else request.POST.get("body", "")
    return page_action(request, lambda: dispute_cover_letter_save(dispute_id=dispute.pk, actor=request.user, body=body),
                       success="Cover letter saved." if body.strip() else "Cover letter reset to its template.",
                       redirect_to=back)


@login_required
@require_POST
def propose_accept(request, pk: int):
    dispute = _dispute_or_404(request, pk)
    return page_action(
        request, lambda: dispute_propose_accept(dispute_id=dispute.pk, actor=request.user,
                                                reason=request.POST.get("reason", "")),
        success=f"Proposed: accept liability for {dispute.reference}. It waits in the team leads' approvals queue.",
        redirect_to=redirect(reverse("disputes:detail", args=[dispute.pk])))


@login_required
@require_POST
def decline_proposal(request, pk: int):
    dispute = _dispute_or_404(request, pk)
    return page_action(
        request, lambda: dispute_decline_proposal(dispute_id=dispute.pk, actor=request.user,
                                                  reason=request.POST.get("reason", "")),
        success=f"Proposal declined: {dispute.reference} will be fought.",
        redirect_to=redirect(reverse("disputes:detail", args=[dispute.pk])))


# ---------------------------------------------------------------- dispute report import (team leads)

@login_required
@require_http_methods(["GET", "POST"])
def report_import(request):
    """``/disputes/import/``: upload a Stripe disputes export or an Adyen dispute report (team leads)."""
    from django.core.exceptions import PermissionDenied as DjangoPermissionDenied

    from backoffice.queueing import enqueue_on_commit

    from .models import DisputeReportImport
    from .report_import import dispute_report_upload
    from .tasks import import_dispute_report

    if not policy.allows("import_reports", request.user):
        raise DjangoPermissionDenied
    if request.method == "POST":
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise InvalidInput("Choose a CSV file.", code="file_required")
            if upload.size > settings.ATTACHMENT_MAX_BYTES:
                raise InvalidInput("The file is too large.", code="file_too_large")
            job = dispute_report_upload(psp=request.POST.get("psp", ""), file_name=upload.name,
                                        content=upload.read(), actor=request.user)
        except DomainError as err:
            return page_error_response(request, err, redirect_to=redirect("disputes:import"))
        enqueue_on_commit(import_dispute_report, job.pk)
        return redirect("disputes:import-detail", pk=job.pk)
    recent = DisputeReportImport.objects.defer("content").select_related("uploaded_by").order_by("-created_at")[:20]
    return render(request, "disputes/import.html", {"recent": recent})


@login_required
def report_import_detail(request, pk: int):
    from django.core.exceptions import PermissionDenied as DjangoPermissionDenied

    from .models import DisputeReportImport

    if not policy.allows("import_reports", request.user):
        raise DjangoPermissionDenied
    job = DisputeReportImport.objects.defer("content").filter(pk=pk).first()
    if job is None:
        raise Http404("No such import")
    return render(request, "disputes/import_detail.html", {"job": job})
