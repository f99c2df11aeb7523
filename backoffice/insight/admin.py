"""SLA targets are edited by superusers through the journaled service; the access log and task
counters are read-only."""

from django.contrib import admin, messages

from backoffice.admin_mixins import ReadOnlyAdmin
from backoffice.errors import DomainError
from backoffice.roles.admin import SuperuserOnlyAdmin

from .models import AuditAccess, SlaTarget, TaskRunStat
from .services import sla_target_set


@admin.register(SlaTarget)
class SlaTargetAdmin(SuperuserOnlyAdmin):
    list_display = ["case_type", "first_response_minutes", "handle_minutes", "updated_at"]

    def save_model(self, request, obj, form, change):
        try:
            saved = sla_target_set(case_type=obj.case_type, first_response_minutes=obj.first_response_minutes,
                                   handle_minutes=obj.handle_minutes, actor=request.user)
            obj.pk = saved.pk
        except DomainError as err:
            messages.error(request, err.message)


@admin.register(AuditAccess)
class AuditAccessAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_label", "action", "case_type", "case_id", "result_rows", "request_id"]
    list_filter = ["action"]
    search_fields = ["actor_label"]
    show_full_result_count = False


@admin.register(TaskRunStat)
class TaskRunStatAdmin(ReadOnlyAdmin):
    list_display = ["task", "runs", "failures", "last_run_at", "last_failure_at"]
