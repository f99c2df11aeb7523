from django.contrib import admin

from .models import CaseAlert, Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "recipient", "kind", "title", "read_at"]
    list_filter = ["kind"]
    list_select_related = ["recipient"]
    show_full_result_count = False


@admin.register(CaseAlert)
class CaseAlertAdmin(admin.ModelAdmin):
    list_display = ["claimed_at", "kind", "case_reference", "offset_days", "due_at", "emailed_at"]
    list_filter = ["kind"]
    show_full_result_count = False

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
