"""Pages shared by every case type: queues, case actions; plus /healthz. (/audit/ lives in backoffice.insight.)"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
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
from backoffice.errors import DomainError, InvalidInput
from backoffice.pagination import OrderKey, keyset_page, ordering_of
from backoffice.parsing import InvalidValue, parse_id, parse_int, parse_optional_id
from backoffice.roles.predicates import can_read, is_team_lead, is_worker
from backoffice.roles.selectors import workers

from .errors import page_action, page_error_response
from .tables import render_table_html

PER_PAGE = 25


@require_GET
def healthz(request):
    """200 ``{"ok": true}`` or 503 ``{"ok": false}``; staff users and API tokens also get the details
    (database, broker, every schedule, schedulers, e-mail outbox, and what is wrong). See README."""
    from backoffice.health import detail_allowed, health_report

    report = health_report()
    status = 200 if report["ok"] else 503
    body = report if detail_allowed(request) else {"ok": report["ok"]}
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _require_reader(request) -> None:
    if not can_read(request.user):
        raise Http404("No role")  # a user with no role sees nothing


# Decisions a bulk form may take on many cases at once, each through the case type's own dispatcher.
BULK_DECISIONS = {"approve": "Approved", "reject": "Rejected"}
BULK_LIMIT = 100


def _canonical_redirect(request):
    """A filter URL with empty or repeated parameters is sent to its clean form (one shareable URL)."""
    from urllib.parse import parse_qsl

    from .selectors import clean_query

    raw = request.META.get("QUERY_STRING", "")
    if not raw or getattr(request, "htmx", False):
        return None
    pairs = parse_qsl(raw, keep_blank_values=True)
    clean = clean_query(request.GET, keep_page=True)
    if [p for p in pairs] != parse_qsl(clean, keep_blank_values=True):
        return redirect(f"{request.path}?{clean}" if clean else request.path)
    return None


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
    canonical = _canonical_redirect(request)
    if canonical is not None:
        return canonical
    from .selectors import API_ONLY_FILTERS, clean_query, saved_views

    types = [spec for spec in case_types() if spec.queue(name, request.user) is not None]
    if name == "approvals":
        # Money first: refunds, then extensions, then proposals to accept disputes.
        preference = {"refunds": 0, "extensions": 1, "disputes": 2}
        types.sort(key=lambda spec: preference.get(spec.key, 9))
    if not types:
        return render(request, "queues/queue.html", {"queue_name": name, "types": [], "table": None})
    key = request.GET.get("type") or types[0].key
    spec = next((s for s in types if s.key == key), types[0])
    qs = spec.queue(name, request.user)
    data = request.GET.copy()
    data.pop("type", None)
    filterset = spec.filterset_class(data or None, queryset=qs, request=request)
    rows = filterset.qs if filterset.is_bound and filterset.is_valid() else qs
    if filterset.is_bound and not filterset.is_valid():
        messages.error(request, "Some filters are not valid and were ignored: " +
                       "; ".join(f"{k}: {' '.join(v)}" for k, v in filterset.errors.items()))
    sort_param = request.GET.get("sort", "")
    if sort_param.lstrip("-") == "amount" and not request.GET.get("currency", "").strip():
        # Amounts in different currencies are not comparable: sorting by amount is within one currency.
        messages.info(request, "Amounts are sorted within one currency: choose a currency in the filters to sort "
                               "by amount.")
        sort_param = ""
    keys, sort = queue_ordering(spec, sort_param)
    rows = rows.order_by(*[k.expr for k in keys])
    skip = request.GET.get("skip", "")
    try:
        page = keyset_page(rows, keys=keys, cursor=request.GET.get("cursor") or None, size=PER_PAGE,
                           skip=parse_int(skip, field="skip", min_value=0) if skip.strip() else 0)
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
        assignees = list(workers())
    fields = [field for field in filterset.form if field.name not in API_ONLY_FILTERS]
    active = [field.name for field in fields if request.GET.getlist(field.name) not in ([], [""])]
    context = {
        "queue_name": name,
        "queue_label": dict(QUEUE_LABELS).get(name, name),
        "types": types,
        "spec": spec,
        "filter": filterset,
        "filter_fields": fields,
        "active_filters": active,
        "table": table,
        "table_html": render_table_html(table, request),
        "page": page,
        "pager": _pager_links(request, page),
        "assignees": assignees,
        "can_bulk": bool(is_worker(request.user)),
        "can_decide": name == "approvals" and bool(is_worker(request.user)),
        "saved_views": saved_views(user=request.user),
        "current_query": clean_query(request.GET),
        "bulk_results": request.session.pop("bulk_results", None),
    }
    template = "queues/_table.html" if getattr(request, "htmx", False) else "queues/queue.html"
    return render(request, template, context)


QUEUE_LABELS = (("mine", "My cases"), ("unassigned", "Unassigned"), ("due-soon", "Due soon"),
                ("overdue", "Overdue"), ("approvals", "Approvals"), ("all", "All cases"))


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
    """Claim, assign, approve or reject many cases: each row through the same service, each with its result."""
    if not is_worker(request.user):
        return render(request, "403.html", {"message": "Auditors read cases; they do not change them."}, status=403)
    spec = get_case_type(request.POST.get("type", ""))
    back_query = request.POST.get("back", "")
    target = reverse("queue", args=[name]) if name in QUEUE_NAMES else reverse("home")
    back = redirect(f"{target}?{back_query}" if back_query else f"{target}?type={spec.key if spec else ''}")
    if spec is None:
        messages.error(request, "Unknown case type.")
        return back
    try:
        ids = list(dict.fromkeys(parse_id(x, field="ids") for x in request.POST.getlist("ids")))
        assignee_id = parse_optional_id(request.POST.get("assignee"), field="assignee")
    except InvalidValue as err:
        messages.error(request, f"{err.message} ({err.code})")
        return back
    if len(ids) > BULK_LIMIT:
        messages.error(request, f"Select at most {BULK_LIMIT} cases at a time.")
        return back
    if not ids:
        messages.warning(request, "Select at least one case first.")
        return back
    action = request.POST.get("action")
    if action not in ("claim", "assign", *BULK_DECISIONS):
        messages.error(request, "Unknown bulk action.")
        return back
    reason = (request.POST.get("reason") or "").strip()
    if action in BULK_DECISIONS and not reason:
        messages.error(request, f"Give a reason to {action} the selected cases.")
        return back
    references = dict(spec.model._default_manager.filter(pk__in=ids).values_list("pk", "reference"))
    results = []
    for pk in ids:
        label = references.get(pk) or f"#{pk}"
        try:
            if action == "claim":
                case_claim(model=spec.model, pk=pk, actor=request.user)
                outcome = "Claimed"
            elif action == "assign":
                case_assign(model=spec.model, pk=pk, actor=request.user, assignee_id=assignee_id)
                outcome = "Assigned"
            else:
                case = spec.transition(case_id=pk, name=action, actor=request.user, reason=reason,
                                       data={"reason": reason})
                state = case.get_state_display() if hasattr(case, "get_state_display") else case.state
                outcome = f"{BULK_DECISIONS[action]}: now {str(state).lower()}"
            results.append({"reference": label, "pk": pk, "ok": True, "text": outcome})
        except DomainError as err:
            results.append({"reference": label, "pk": pk, "ok": False, "text": f"{err.message} ({err.code})"})
    done = sum(1 for r in results if r["ok"])
    request.session["bulk_results"] = {"action": action, "done": done, "failed": len(results) - done,
                                       "type": spec.key, "rows": results}
    if done:
        messages.success(request, f"{action.capitalize()}: {done} of {len(results)} case(s) done.")
    if len(results) - done:
        messages.error(request, f"{len(results) - done} of {len(results)} could not be done: see each row below.")
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
    return page_action(request, lambda: case_claim(model=spec.model, pk=pk, actor=request.user),
                       success="The case is yours.", redirect_to=_detail_redirect(spec, pk))


@login_required
@require_POST
def case_assign_view(request, type_key: str, pk: int):
    spec = _spec_or_404(type_key)
    _load_case(request, spec, pk)

    def assign():
        assignee_id = parse_optional_id(request.POST.get("assignee"), field="assignee")
        case_assign(model=spec.model, pk=pk, actor=request.user, assignee_id=assignee_id,
                    reason=request.POST.get("reason", ""))

    return page_action(request, assign, success="Assignment updated.", redirect_to=_detail_redirect(spec, pk))


@login_required
@require_POST
def case_comment_view(request, type_key: str, pk: int):
    spec = _spec_or_404(type_key)
    case = _load_case(request, spec, pk)
    return page_action(request, lambda: case_comment_add(case=case, author=request.user,
                                                         body=request.POST.get("body", "")),
                       success="Comment added.", redirect_to=_detail_redirect(spec, pk))


@login_required
@require_POST
def case_attach_view(request, type_key: str, pk: int):
    spec = _spec_or_404(type_key)
    case = _load_case(request, spec, pk)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose a file to upload.")
        return _detail_redirect(spec, pk)
    back = _detail_redirect(spec, pk)
    if spec.attach is not None:
        # The case type files uploads its own way (disputes: every file is evidence, so it reaches the packet).
        return page_action(request, lambda: spec.attach(case=case, actor=request.user, upload=upload,
                                                        data=request.POST), success=str, redirect_to=back)
    return page_action(request, lambda: case_attachment_add(case=case, uploaded_by=request.user, upload=upload),
                       success=f"Attached {upload.name}.", redirect_to=back)


@login_required
@require_GET
def case_file_view(request, type_key: str, pk: int, file_id: int):
    """A file attached to a case, for anyone who may read the case (never a public media URL)."""
    from .files import file_response

    spec = _spec_or_404(type_key)
    case = _load_case(request, spec, pk)
    attachment = case_attachments(case=case).filter(pk=file_id).first()
    if attachment is None:
        raise Http404("No such file")
    return file_response(attachment.file, name=attachment.original_name, mime_type=attachment.mime_type)


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
        is_open = case.state in spec.open_states
        context.update(
            spec=spec,
            case=case,
            # Claim only what can be claimed: an open case that is unassigned (a team lead may take any).
            can_claim=bool(is_worker(user)) and is_open and case.assignee_id != user.pk
            and (case.assignee_id is None or bool(is_team_lead(user))),
            timeline=case_timeline(case=case),
            attachments=case_attachments(case=case),
            transitions=available_transitions(case, user),
            can_write=bool(is_worker(user)),
            can_reassign=bool(is_team_lead(user)),
            assignees=list(workers())
            if is_team_lead(user) else [],
        )
        return context


@login_required
@require_GET
def search_view(request):
    """``/search/?q=``: one box for customers, invoices, payments and cases, routed by the key's shape."""
    from backoffice.search import search

    _require_reader(request)
    results = search(user=request.user, q=request.GET.get("q", ""))
    exact = results.single_exact_url()
    if exact is not None and request.GET.get("all") != "1":
        return redirect(exact)
    return render(request, "search/results.html", {"results": results, "key": results.key,
                                                   "query": results.key.display})


@login_required
def home(request):
    """The landing page per role: team leads their approvals, specialists what is due soon, auditors the audit."""
    from .selectors import landing_url

    return redirect(landing_url(request.user))


@login_required
@require_GET
def queue_counts_view(request):
    """``/queues/counts.json``: bounded counts per queue for the navigation (fetched after the page loads)."""
    from .selectors import queue_counts

    response = JsonResponse(queue_counts(request.user))
    response["Cache-Control"] = "private, max-age=30"
    return response


@login_required
def profile_view(request):
    """``/profile/``: the locale and time zone pages use for this user (blank follows the browser)."""
    from .models import Profile
    from .preferences import COMMON_LOCALES, available_time_zones, remember
    from .services import profile_update

    profile = Profile.objects.filter(user=request.user).first()
    values = {"locale": profile.locale if profile else "", "time_zone": profile.time_zone if profile else ""}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        values = {"locale": request.POST.get("locale", "").strip(), "time_zone": request.POST.get("time_zone", "")}
        try:
            profile = profile_update(user=request.user, locale=values["locale"], time_zone=values["time_zone"])
        except DomainError as err:
            errors["time_zone" if "time_zone" in err.code else "locale"] = err.message
            status = 400
        else:
            remember(request, locale=profile.locale, time_zone=profile.time_zone)
            messages.success(request, "Your settings are saved.")
            return redirect("profile")
    return render(request, "profile.html", {
        "values": values, "errors": errors, "locales": COMMON_LOCALES, "time_zones": available_time_zones(),
        "reader": request.reader,
    }, status=status)


@login_required
@require_POST
def saved_view_create_view(request):
    from .services import saved_view_create

    queue_name = request.POST.get("queue", "")
    query = request.POST.get("query", "")
    try:
        view = saved_view_create(user=request.user, name=request.POST.get("name", ""), queue=queue_name, query=query)
    except DomainError as err:
        messages.error(request, err.message)
        target = reverse("queue", args=[queue_name]) if queue_name in QUEUE_NAMES else reverse("home")
        return redirect(f"{target}?{query}" if query else target)
    messages.success(request, f"View “{view.name}” saved.")
    return redirect(view.url)


@login_required
@require_POST
def saved_view_delete_view(request, pk: int):
    from .services import saved_view_delete

    try:
        saved_view_delete(user=request.user, view_id=pk)
        messages.success(request, "View deleted.")
    except DomainError as err:
        messages.error(request, err.message)
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/queues/") else reverse("home"))
