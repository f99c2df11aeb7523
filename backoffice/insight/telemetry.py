"""Business metrics every deployment has: open cases per type and state, task runs per schedule,
audit accesses. Other apps add theirs in their own ``telemetry.py`` (see ``registry``)."""

from __future__ import annotations

from django.db.models import Count

from .registry import business_metric


def open_states(model) -> list[str]:
    """The states of ``model`` that are not final, as its case type registers them."""
    from backoffice.cases.registry import case_type_for_model

    spec = case_type_for_model(model)
    return spec.unfinished_states() if spec is not None else []


@business_metric("backoffice_open_cases", "Cases not in a terminal state, per case type and state.",
                 labels=("case_type", "state"))
def open_cases():
    from backoffice.cases.registry import case_types

    for spec in case_types():
        states = spec.unfinished_states()
        counts = dict(spec.model.objects.filter(state__in=states).values_list("state")
                      .annotate(n=Count("id")).values_list("state", "n"))
        for state in states:
            yield (spec.model.CASE_TYPE, state), counts.get(state, 0)


@business_metric("backoffice_task_runs", "Celery task runs counted by the workers, per task.",
                 kind="counter", labels=("task",))
def task_runs():
    from .models import TaskRunStat

    return [((task, ), runs) for task, runs in TaskRunStat.objects.values_list("task", "runs")]


@business_metric("backoffice_task_failures", "Celery task runs that raised, per task.",
                 kind="counter", labels=("task",))
def task_failures():
    from .models import TaskRunStat

    return [((task, ), failures) for task, failures in TaskRunStat.objects.values_list("task", "failures")]


@business_metric("backoffice_schedule_runs", "Runs started by the scheduler, per schedule and task.",
                 kind="counter", labels=("schedule", "task"))
def schedule_runs():
    from django_celery_beat.models import PeriodicTask

    return [((name, task), n) for name, task, n in PeriodicTask.objects.values_list("name", "task", "total_run_count")]


@business_metric("backoffice_schedule_last_run_age_seconds",
                 "Seconds since each enabled schedule last ran (absent until it first runs).",
                 labels=("schedule",))
def schedule_last_run_age():
    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask

    now = timezone.now()
    for name, last in PeriodicTask.objects.filter(enabled=True, last_run_at__isnull=False).values_list(
            "name", "last_run_at"):
        yield (name, ), max((now - last).total_seconds(), 0)


@business_metric("backoffice_audit_accesses", "Audit searches, exports and case-history views, per action.",
                 kind="counter", labels=("action",))
def audit_accesses():
    from .models import AuditAccess

    rows = AuditAccess.objects.order_by().values_list("action").annotate(n=Count("id")).values_list("action", "n")
    return [((action, ), n) for action, n in rows]
