"""Pages shared by every case type: queues, case actions; plus /healthz. (/audit/ lives in backoffice.insight.)"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.generic import TemplateView
from django_tables2.utils import OrderByTuple

from backoffice.cases.registry import QUEUE_NAMES, case_types, get_case_type
from backoffice.cases.selectors import case_attachments, case_timeline
from backoffice.cases.services import case_assign, case_attachment_add, case_claim, case_comment_add
from backoffice.cases.transitions import available_transitions
from backoffice.errors import DomainError, InvalidInput, PermissionDenied
from backoffice.pagination import OrderKey, keyset_page, ordering_of
from backoffice.roles.models import Role
from backoffice.roles.predicates import can_read, is_team_lead, is_worker

from .errors import page_error_response

PER_PAGE = 25


@require_GET
def healthz(request):
    """Database and broker status as JSON; 503 when the database is down."""
    from backoffice.health import health_report

    report = health_report()
    return JsonResponse(report, status=200 if report["database"]["ok"] else 503)


def _require_reader(request) -> None:
    if not can_read(request.user):
        raise Http404("No role")  # a user with no role sees nothing


def queue_ordering(spec, sort: str) -> tuple[list[OrderKey], str]:
    """The keyset ordering for the queue table's ``sort`` parameter (a column name, ``-`` for descending).

    Only columns whose sort fields are the model's own columns can be sorted (and the tables mark the
    others ``orderable=False``); anything else falls back to the table's default order.
    """
    table_class = spec.table_class
    default = table_class._meta.order_by or ("pk",)
    for candidate in (sort, *default):
        name = (candidate or "").lstrip("-")
        column = table_class.base_columns.get(name)
        if column is None or column.orderable is False:
            continue
        fields = list(column.order_by or ()) if column.order_by else [str(column.accessor or name)]
        descending = (candidate or "").startswith("-")
        keys = []
        for field_name in fields:
            bare = field_name.lstrip("-").replace(".", "__")
            keys.append(OrderKey(bare, field_name.startswith("-") != descending))
        keyset = ordering_of(spec.model.objects.order_by(*[k.expr for k in keys]))
        if keyset is not None:
            return keyset, candidate
    return [OrderKey(spec.model._meta.pk.name, False)], ""


@login_required
def queue(request, name: str):
    if name not in QUEUE_NAMES:
        raise Http404("Unknown queue")
    _require_reader(request)
    types = [spec for spec in case_types() if spec.queue(name, request.user) is not None]
    if not types:
        return render(request, "queues/queue.html", {"queue_name": name, "types": [], "table": None})
    key = request.GET.get("type") or types[0].key
    spec = next((s for s in types if s.key == key), types[0])
    qs = spec.queue(name, request.user)
    filterset = spec.filterset_class(request.GET or None, queryset=qs, request=request)
    rows = filterset.qs if filterset.is_bound and filterset.is_valid() else qs
    if filterset.is_bound and not filterset.is_valid():
        messages.error(request, "Some filters are not valid and were ignored: " +
                       "; ".join(f"{k}: {' '.join(v)}" for k, v in filterset.errors.items()))
    keys, sort = queue_ordering(spec, request.GET.get("sort", ""))
    rows = rows.order_by(*[k.expr for k in keys])
    skip = request.GET.get("skip", "")
    try:
        page = keyset_page(rows, keys=keys, cursor=request.GET.get("cursor") or None, size=PER_PAGE,
                           skip=int(skip) if skip.isdigit() else 0)
    except InvalidInput:
        messages.warning(request, "That page link belongs to another sort order or is damaged: "
                                  "showing the first page.")
        page = keyset_page(rows, keys=keys, cursor=None, size=PER_PAGE)
    # A table over the page's rows only: django-tables2 neither paginates nor counts (no request passed)
    # nor re-sorts them in Python (order_by=()); the header shows the database's order.
    table = spec.table_class(page.rows, order_by=())
    if sort:
        table._order_by = OrderByTuple((sort,))
    assignees = []
    if is_team_lead(request.user):
        assignees = list(get_user_model().objects.filter(
            is_active=True, groups__name__in=[Role.SPECIALIST, Role.TEAM_LEAD]).distinct().order_by("username"))
    context = {
        "queue_name": name,
        "types": types,
        "spec": spec,
        "filter": filterset,
        "table": table,
        "page": page,
        "pager": _pager_links(request, page),
        "assignees": assignees,
        "can_bulk": bool(is_worker(request.user)),
    }
    template = "queues/_table.html" if getattr(request, "htmx", False) else "queues/queue.html"
    return render(request, template, context)


JUMP_PAGES = 10


def _pager_links(request, page) -> dict[str, str | None]:
    """First / previous / next / "10 pages on" links: each carries a cursor, none needs a COUNT."""
    query = request.GET.copy()
    for param in ("cursor", "skip", "page"):
        query.pop(param, None)

    def link(cursor: str | None, skip: int = 0) -> str:
        q = query.copy()
        if cursor:
            q["cursor"] = cursor
        if skip:
            q["skip"] = str(skip)
        return "?" + q.urlencode()

    next_cursor = page.next_cursor
    return {
        "first": link(None) if page.has_previous else None,
        "previous": link(page.previous_cursor) if page.previous_cursor else None,
        "next": link(next_cursor) if next_cursor else None,
        "jump": link(next_cursor, PER_PAGE * (JUMP_PAGES - 1)) if next_cursor else None,
        "jump_pages": JUMP_PAGES,
    }


@login_required
@require_POST
def queue_bulk(request, name: str):
    spec = get_case_type(request.POST.get("type", ""))
    back = redirect(f"{reverse('queue', args=[name])}?type={spec.key if spec else ''}")
    if spec is None:
        messages.error(request, "Unknown case type.")
        return back
    ids = [int(x) for x in request.POST.getlist("ids") if x.isdigit()][:100]
    if not ids:
        messages.warning(request, "Select at least one case first.")
        return back
    action = request.POST.get("action")
    done, failed = 0, []
    for pk in ids:
        try:
            if action == "claim":
                case_claim(model=spec.model, pk=pk, actor=request.user)
            elif action == "assign":
                raw = request.POST.get("assignee", "")
                case_assign(model=spec.model, pk=pk, actor=request.user,
                            assignee_id=int(raw) if raw.isdigit() else None)
            else:
                messages.error(request, "Unknown bulk action.")
                return back
            done += 1
        except PermissionDenied as err:
            return page_error_response(request, err, redirect_to=back)
        except DomainError as err:
            failed.append(f"#{pk}: {err.message}")
    if done:
        messages.success(request, f"{action.capitalize()}: {done} case(s) updated.")
    for line in failed[:10]:
        messages.error(request, line)
    return back


def _spec_or_404(type_key: str):
    spec = get_case_type(type_key)
    if spec is None:
        raise Http404("Unknown case type")
    return spec


def _detail_redirect(spec, pk: int):
    return redirect(reverse(spec.detail_url_name, args=[pk]))


def _load_case(request, spec, pk: int):
    _require_reader(request)
    case = spec.queryset(request.user).filter(pk=pk).first()
    if case is None:
        raise Http404("No such case")
    return case


@login_required
@require_POST
def case_claim_view(request, type_key: str, pk: int):
    spec = _spec_or_404(type_key)
    _load_case(request, spec, pk)
    try:
        case_claim(model=spec.model, pk=pk, actor=request.user)
        messages.success(request, "The case is yours.")
    except DomainError as err:
        return page_error_response(request, err, redirect_to=_detail_redirect(spec, pk))
    return _detail_redirect(spec, pk)


@login_required
@require_POST
def case_assign_view(request, type_key: str, pk: int):
    spec = _spec_or_404(type_key)
    _load_case(request, spec, pk)
    raw = request.POST.get("assignee", "")
    try:
        case_assign(model=spec.model, pk=pk, actor=request.user, assignee_id=int(raw) if raw.isdigit() else None,
                    reason=request.POST.get("reason", ""))
        messages.success(request, "Assignment updated.")
    except DomainError as err:
        return page_error_response(request, err, redirect_to=_detail_redirect(spec, pk))
    return _detail_redirect(spec, pk)


@login_required
@require_POST
def case_comment_view(request, type_key: str, pk: int):
    spec = _spec_or_404(type_key)
    case = _load_case(request, spec, pk)
    try:
        case_comment_add(case=case, author=request.user, body=request.POST.get("body", ""))
        messages.success(request, "Comment added.")
    except DomainError as err:
        return page_error_response(request, err, redirect_to=_detail_redirect(spec, pk))
    return _detail_redirect(spec, pk)


@login_required
@require_POST
def case_attach_view(request, type_key: str, pk: int):
    spec = _spec_or_404(type_key)
    case = _load_case(request, spec, pk)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose a file to upload.")
        return _detail_redirect(spec, pk)
    try:
        case_attachment_add(case=case, uploaded_by=request.user, upload=upload)
        messages.success(request, f"Attached {upload.name}.")
    except DomainError as err:
        return page_error_response(request, err, redirect_to=_detail_redirect(spec, pk))
    return _detail_redirect(spec, pk)


@login_required
@require_POST
def case_transition_view(request, type_key: str, pk: int, name: str):
    spec = _spec_or_404(type_key)
    _load_case(request, spec, pk)
    data = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
    try:
        spec.transition(case_id=pk, name=name, actor=request.user, reason=request.POST.get("reason", ""), data=data)
        messages.success(request, f"Done: {name.replace('_', ' ')}.")
    except DomainError as err:
        return page_error_response(request, err, redirect_to=_detail_redirect(spec, pk))
    return _detail_redirect(spec, pk)


class CaseDetailView(TemplateView):
    """Base for ``/disputes/<id>/`` and friends: facts come from the subclass's template blocks."""

    type_key = ""
    template_name = "cases/detail.html"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            from django.contrib.auth.views import redirect_to_login

            return redirect_to_login(request.get_full_path())
        return super().dispatch(request, *args, **kwargs)

    def get_case(self):
        spec = _spec_or_404(self.type_key)
        return _load_case(self.request, spec, self.kwargs["pk"])

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        spec = _spec_or_404(self.type_key)
        case = self.get_case()
        user = self.request.user
        context.update(
            spec=spec,
            case=case,
            timeline=case_timeline(case=case),
            attachments=case_attachments(case=case),
            transitions=available_transitions(case, user),
            can_write=bool(is_worker(user)),
            can_reassign=bool(is_team_lead(user)),
            assignees=list(get_user_model().objects.filter(
                is_active=True, groups__name__in=[Role.SPECIALIST, Role.TEAM_LEAD]).distinct().order_by("username"))
            if is_team_lead(user) else [],
        )
        return context
