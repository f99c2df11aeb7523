from django.contrib import admin

from .models import DeniedAttempt, JournalEntry


class ReadOnlyAdmin(admin.ModelAdmin):
    """The journal is append-only: nobody adds, changes or deletes rows from the admin."""

    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "case_type", "case_reference", "seq", "transition", "source_state",
                    "target_state", "actor_label"]
    list_filter = ["case_type", "transition"]
    search_fields = ["=case_reference", "=actor_label"]
    date_hierarchy = "created_at"


@admin.register(DeniedAttempt)
class DeniedAttemptAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "case_type", "case_reference", "action", "actor_label", "code"]
    list_filter = ["case_type", "code"]
