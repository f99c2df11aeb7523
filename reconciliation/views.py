"""Reconciliation pages: the break page, the settlement-report upload (team leads) and an import's page."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render

from backoffice.errors import DomainError
from backoffice.roles.predicates import can_read, is_team_lead
from backoffice.web.templatetags.ui import money_text
from backoffice.web.views import CaseDetailView

from .imports import settlement_import
from .models import Psp, Resolution
from .policy import write_off_refusal
from .selectors import (
    break_decisions,
    break_list,
    settlement_import_get,
    settlement_import_list,
    settlement_lines_with_breaks,
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
    """``/reconciliation/imports/``: team leads upload a report; everyone with a role sees the recent imports."""
    if not can_read(request.user):
        raise Http404("No role")
    context: dict[str, Any] = {"psps": Psp.choices, "recent": settlement_import_list(user=request.user)[:30],
                               "can_import": bool(is_team_lead(request.user)), "errors": [], "error": ""}
    status = 200
    if request.method == "POST":
        if not is_team_lead(request.user):
            return render(request, "403.html", {"message": "Only team leads import settlement reports."}, status=403)
        upload = request.FILES.get("file")
        psp = request.POST.get("psp", "")
        if upload is None:
            context["error"], status = "Choose a CSV file.", 400
        else:
            try:
                job = settlement_import(psp=psp, binary=upload.file, file_name=upload.name, actor=request.user,
                                        source="upload")
            except DomainError as err:
                context["error"], context["errors"], status = err.message, err.extra.get("errors", []), err.status
                context["error_code"] = err.code
            else:
                return redirect("reconciliation:import-detail", pk=job.pk)
    return render(request, "reconciliation/imports.html", context, status=status)


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
