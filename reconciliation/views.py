"""Reconciliation pages: the break page, the settlement-report upload (team leads) and an import's page."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render

from backoffice.errors import DomainError
from backoffice.roles.predicates import can_read, is_team_lead
from backoffice.web.errors import page_error_response
from backoffice.web.templatetags.ui import money_text
from backoffice.web.views import CaseDetailView

from .imports import settlement_upload, upload_progress
from .models import Psp, Resolution
from .policy import write_off_refusal
from .selectors import (
    break_decisions,
    break_list,
    settlement_import_get,
    settlement_import_list,
    settlement_lines_with_breaks,
    settlement_upload_list,
)


class BreakDetailView(CaseDetailView):
    """``/reconciliation/breaks/<id>/``: facts, write-off decisions, the buttons this user may press."""

    type_key = "breaks"
    template_name = "reconciliation/detail.html"

    def get_case(self):
        if not can_read(self.request.user):
            raise Http404("No role")
        brk = break_list(user=self.request.user).filter(pk=self.kwargs["pk"]).first()
        if brk is None:
            raise Http404("No such break")
        return brk

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        brk = context["case"]
        refusal = write_off_refusal(brk=brk, user=self.request.user) if brk.state == "write_off_requested" else None
        context.update(
            brk=brk, amount=money_text(brk.amount_minor, brk.currency),
            expected=money_text(brk.expected_minor, brk.currency) if brk.expected_minor is not None else "",
            reported=money_text(brk.reported_minor, brk.currency) if brk.reported_minor is not None else "",
            decisions=break_decisions(brk=brk), resolutions=Resolution.choices,
            write_off_refusal=refusal.message if refusal is not None else "",
            destructive_transitions={"reject_write_off"},
        )
        return context


@login_required
def import_upload(request):
    """``/reconciliation/imports/``: team leads upload a report (imported by a task, progress on its page);
    everyone with a role sees the recent imports and uploads."""
    if not can_read(request.user):
        raise Http404("No role")
    if request.method == "POST":
        try:
            job = settlement_upload(psp=request.POST.get("psp", ""), upload=request.FILES.get("file"),
                                    actor=request.user)
        except DomainError as err:
            return page_error_response(request, err, redirect_to=redirect("reconciliation:imports"))
        return redirect("reconciliation:upload-detail", pk=job.pk)
    return render(request, "reconciliation/imports.html", {
        "psps": Psp.choices, "recent": settlement_import_list(user=request.user)[:30],
        "uploads": settlement_upload_list(user=request.user)[:10], "can_import": bool(is_team_lead(request.user)),
    })


@login_required
def upload_detail(request, pk: int):
    """``/reconciliation/uploads/<id>/``: the upload's progress (the page refreshes itself), its row errors, or
    a link to the import it became."""
    if not can_read(request.user):
        raise Http404("No role")
    job = settlement_upload_list(user=request.user).filter(pk=pk).first()
    if job is None:
        raise Http404("No such upload")
    progress = upload_progress(upload=job) if job.running else {}
    total = progress.get("total")
    percent = min(100, 100 * progress.get("rows", 0) // total) if total else 0
    return render(request, "reconciliation/upload_detail.html", {"job": job, "progress": progress,
                                                                   "percent": percent})


@login_required
def import_detail(request, pk: int):
    if not can_read(request.user):
        raise Http404("No role")
    try:
        job = settlement_import_get(user=request.user, import_id=pk)
    except DomainError as err:
        raise Http404("No such import") from err
    return render(request, "reconciliation/import_detail.html", {
        "job": job, "break_lines": settlement_lines_with_breaks(job=job),
        "breaks": list(job.breaks.select_related("assignee").order_by("pk")[:200]),
    })
