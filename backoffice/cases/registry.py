"""The case types the queue pages, case pages and API know about. Each app registers its own
in its ``registry.py`` (imported from ``AppConfig.ready``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

QueueFilter = Callable[[QuerySet, Any], QuerySet]

QUEUE_NAMES = ("mine", "unassigned", "due-soon", "overdue", "approvals", "all")
DUE_SOON_HOURS = 72


@dataclass
class CaseTypeSpec:
    key: str  # URL key: "disputes", "refunds", "extensions"
    label: str  # "Disputes"
    model: Any  # the Case subclass
    queryset: Callable[[Any], QuerySet]  # selector: user -> queryset scoped and select_related for lists
    filterset_class: Any  # django-filter FilterSet shared by the queue page, the API and the admin
    table_class: Any  # django-tables2 Table for the queue page
    transition: Callable[..., Any]  # (*, case_id, name, actor, reason, data) -> case
    detail_url_name: str  # e.g. "disputes:detail"
    open_states: tuple[str, ...] = ()  # states with work to do: the queues' "open"
    # States in which nobody has anything left to do (open-case metrics, handle time); each workflow
    # names its own, so the core never spells another app's states.
    final_states: tuple[str, ...] = ()
    # Queue name -> filter. Defaults below cover mine/unassigned/due-soon/overdue/all.
    queue_filters: dict[str, QueueFilter] = field(default_factory=dict)
    due_field: str = "internal_due_at"
    # Uploads on the case page: None stores a plain attachment; a case type that files them its own way
    # gives ``(*, case, actor, upload, data) -> message`` (disputes: every file becomes evidence).
    attach: Callable[..., str] | None = None
    # Extra figures for /dashboard/, so the core shows a case type's reporting without importing it:
    # a callable returning ``[{"name", "title", "definition", "header", "rows"}]`` (rows of cells).
    dashboard_sections: Callable[[], list[dict[str, Any]]] | None = None
    # The case's PSP ids that /search/ and the lists' ``q`` find it by, as Django lookups on the model
    # (``"psp_dispute_id__startswith"``, ``"psp_refund_id"``); each must have an index behind it.
    psp_id_lookups: tuple[str, ...] = ()

    def unfinished_states(self) -> list[str]:
        """Every state of the model's ``state`` field that is not final, in declaration order."""
        choices = self.model._meta.get_field("state").choices
        return [value for value, _ in choices if value not in self.final_states]

    def queue(self, name: str, user: Any) -> QuerySet | None:
        """The queryset of queue ``name`` for ``user``, or None when this type has no such queue."""
        qs = self.queryset(user)
        if name in self.queue_filters:
            return self.queue_filters[name](qs, user)
        open_q = Q(state__in=self.open_states)
        now = timezone.now()
        if name == "all":
            return qs
        if name == "mine":
            return qs.filter(open_q, assignee=user)
        if name == "unassigned":
            return qs.filter(open_q, assignee__isnull=True)
        if name == "due-soon":
            return qs.filter(open_q, **{f"{self.due_field}__gte": now,
                                        f"{self.due_field}__lt": now + timedelta(hours=DUE_SOON_HOURS)})
        if name == "overdue":
            return qs.filter(open_q, **{f"{self.due_field}__lt": now})
        return None


_REGISTRY: dict[str, CaseTypeSpec] = {}


def register(spec: CaseTypeSpec) -> CaseTypeSpec:
    _REGISTRY[spec.key] = spec
    return spec


def case_types() -> list[CaseTypeSpec]:
    order = {"disputes": 0, "refunds": 1, "extensions": 2}
    return sorted(_REGISTRY.values(), key=lambda s: order.get(s.key, 9))


def dashboard_sections() -> list[dict[str, Any]]:
    """Every registered case type's extra dashboard figures, in the case types' order."""
    return [section for spec in case_types() if spec.dashboard_sections is not None
            for section in spec.dashboard_sections()]


def get_case_type(key: str) -> CaseTypeSpec | None:
    return _REGISTRY.get(key)


def case_type_for_model(model: Any) -> CaseTypeSpec | None:
    for spec in _REGISTRY.values():
        if spec.model is model or isinstance(model, spec.model):
            return spec
    return None
