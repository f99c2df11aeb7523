"""Pages of the insight app: /audit/ (search, refused attempts, access log, CSV, case history) and
/dashboard/ (see ``dashboard_views``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from backoffice.cases.registry import case_types
from backoffice.db.routers import use_replica
from backoffice.roles.predicates import is_auditor, is_team_lead

from .audit import AuditSearchForm, access_rows, denied_rows, journal_csv, journal_rows
from .models import AuditAccess
from .services import audit_access_record

PER_PAGE = 50
MAX_PAGE = 10_000


def audit_allowed(user: Any) -> bool:
    return bool(is_team_lead(user) or is_auditor(user))


def refuse_audit(request: HttpRequest, message: str) -> HttpResponse:
    audit_access_record(actor=request.user, action=AuditAccess.Action.REFUSED, params={"path": request.path[:200]})
    return render(request, "403.html", {"message": message}, status=403)


def case_links() -> dict[str, str]:
    """case_type (journal) → URL name of its page."""
    return {spec.model.CASE_TYPE: spec.detail_url_name for spec in case_types()}


def _attach_case_urls(rows: list[Any]) -> None:
    links = case_links()
    for row in rows:
        name = links.get(getattr(row, "case_type", ""))
        case_id = getattr(row, "case_id", None)
        row.case_url = reverse(name, args=[case_id]) if name and case_id else ""
        row.history_url = (reverse("audit-case-history", args=[row.case_type, case_id])
                           if name and case_id else "")


def _page_number(raw: str | None) -> int:
    if raw and raw.isascii() and raw.isdigit() and len(raw) <= 6:
        return min(max(int(raw), 1), MAX_PAGE)
    return 1


@login_required
@use_replica
def audit(request: HttpRequest) -> HttpResponse:
    if not audit_allowed(request.user):
        return refuse_audit(request, "Only team leads and auditors use the audit pages.")
    form = AuditSearchForm(request.GET or None)
    rows: list[Any] = []
    kind = "journal"
    page = _page_number(request.GET.get("page"))
    has_next = False
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        status = 200
        if not form.is_bound:
            form = AuditSearchForm({"kind": "journal"})
            form.is_valid()
        kind = form.cleaned_data["kind"]
        qs = {"journal": journal_rows, "denied": denied_rows, "access": access_rows}[kind](form)
        chunk = list(qs[(page - 1) * PER_PAGE: page * PER_PAGE + 1])
        rows, has_next = chunk[:PER_PAGE], len(chunk) > PER_PAGE
        _attach_case_urls(rows)
        action = {"journal": AuditAccess.Action.SEARCH, "denied": AuditAccess.Action.SEARCH_DENIED,
                  "access": AuditAccess.Action.SEARCH_ACCESS}[kind]
        audit_access_record(actor=request.user, action=action, params={**form.params(), "page": page},
                            result_rows=len(rows))
    # Chain verification runs as a task (backoffice/journal/tasks.py); the page shows its last result.
    from backoffice.journal.selectors import journal_last_verification

    chain = journal_last_verification()
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("verify", None)
    export_query = query.copy()
    export_query.pop("kind", None)
    return render(request, "insight/audit.html", {
        "form": form, "rows": rows, "kind": kind, "page": page, "has_next": has_next, "chain": chain,
        "query": query.urlencode(), "export_query": export_query.urlencode(), "links": case_links(),
        "tz": timezone.get_current_timezone_name(),
        "kinds": [("journal", "Decisions"), ("denied", "Refused attempts"), ("access", "Access log")],
    }, status=status)


@login_required
@use_replica
def audit_export(request: HttpRequest) -> HttpResponse:
    """The filtered journal as CSV, streamed in constant memory (see ``audit.journal_csv``)."""
    if not audit_allowed(request.user):
        return refuse_audit(request, "Only team leads and auditors export the journal.")
    form = AuditSearchForm(request.GET or {"kind": "journal"})
    if not form.is_valid():
        return render(request, "insight/audit.html", {
            "form": form, "rows": [], "kind": "journal", "page": 1, "has_next": False, "query": "",
            "export_query": "", "links": {}, "tz": timezone.get_current_timezone_name(),
            "kinds": [("journal", "Decisions"), ("denied", "Refused attempts"), ("access", "Access log")],
        }, status=400)
    audit_access_record(actor=request.user, action=AuditAccess.Action.EXPORT, params=form.params())
    response = StreamingHttpResponse(journal_csv(journal_rows(form)), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="journal-{stamp}.csv"'
    response["X-Accel-Buffering"] = "no"
    return response


def _history_context(request: HttpRequest, case_type: str, pk: int, *, pdf: bool) -> dict[str, Any] | HttpResponse:
    """What a case history page or PDF shows, its reading recorded; the refusal page for other roles."""
    from django.http import Http404

    from .history import case_history, spec_for_case_type

    if not audit_allowed(request.user):
        return refuse_audit(request, "Only team leads and auditors read audit histories.")
    spec = spec_for_case_type(case_type)
    case = spec.queryset(request.user).filter(pk=pk).first() if spec is not None else None
    if case is None:
        raise Http404("No such case")
    history = case_history(case=case)
    audit_access_record(actor=request.user, case_type=case_type, case_id=pk, result_rows=len(history.journal),
                        action=AuditAccess.Action.CASE_HISTORY_PDF if pdf else AuditAccess.Action.CASE_HISTORY)
    return {"h": history, "spec": spec, "generated_at": timezone.now(), "generated_by": request.user.get_username(),
            "pdf": pdf}


@login_required
@use_replica
def audit_case_history(request: HttpRequest, case_type: str, pk: int) -> HttpResponse:
    """A printable history of one case (the browser's print works; the PDF link gives a file)."""
    context = _history_context(request, case_type, pk, pdf=False)
    if isinstance(context, HttpResponse):
        return context
    return render(request, "insight/case_history.html",
                  {**context, "case_url": reverse(context["spec"].detail_url_name, args=[pk])})


@login_required
@use_replica
def audit_case_history_pdf(request: HttpRequest, case_type: str, pk: int) -> HttpResponse:
    from django.template.loader import render_to_string

    from backoffice.pdf import render_pdf

    context = _history_context(request, case_type, pk, pdf=True)
    if isinstance(context, HttpResponse):
        return context
    response = HttpResponse(render_pdf(render_to_string("insight/case_history_print.html", context)),
                            content_type="application/pdf")
    reference = context["h"].case.reference or f"{case_type}-{pk}"
    response["Content-Disposition"] = f'attachment; filename="history-{reference}.pdf"'
    return response
