from django.contrib import admin

from backoffice.admin_mixins import ReadOnlyAdmin

from .models import CaseAlert, Notification, OutboxEmail, SchedulerProcess, TaskRunStatus


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "recipient", "kind", "title", "read_at"]
    list_filter = ["kind"]
    list_select_related = ["recipient"]
    show_full_result_count = False


@admin.register(CaseAlert)
class CaseAlertAdmin(ReadOnlyAdmin):
    list_display = ["claimed_at", "kind", "case_reference", "offset_days", "due_at", "emailed_at"]
    list_filter = ["kind"]
    search_fields = ["=case_reference"]


@admin.register(OutboxEmail)
class OutboxEmailAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "subject", "attempts", "next_attempt_at", "sent_at", "last_error"]
    list_filter = [("sent_at", admin.EmptyFieldListFilter)]
    raw_id_fields = ["alert"]


@admin.register(TaskRunStatus)
class TaskRunStatusAdmin(ReadOnlyAdmin):
    list_display = ["task", "last_succeeded_at", "last_failed_at", "runs", "failures", "unknown_count",
                    "last_duration_ms", "last_error"]


@admin.register(SchedulerProcess)
class SchedulerProcessAdmin(ReadOnlyAdmin):
    list_display = ["ident", "kind", "started_at", "last_seen_at"]
