from django.contrib import admin

from backoffice.admin_mixins import ReadOnlyAdmin

from .models import DeniedAttempt, JournalEntry


class CaseTypeFilter(admin.SimpleListFilter):
    """The registered case types and the limit records, without a DISTINCT over millions of rows."""

    title = "case type"
    parameter_name = "case_type"

    def lookups(self, request, model_admin):
        from backoffice.cases.registry import case_types

        types = [(spec.model.CASE_TYPE, spec.label) for spec in case_types()]
        return [*types, ("approval_limit", "Approval limits"), ("approval_threshold", "Dual-approval thresholds")]

    def queryset(self, request, queryset):
        return queryset.filter(case_type=self.value()) if self.value() else queryset


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    """At millions of rows: no date hierarchy (it scans every row for the years and months), no filter
    that lists DISTINCT values, and search by exact reference or actor on their indexes."""

    list_display = ["created_at", "case_type", "case_reference", "seq", "transition", "source_state",
                    "target_state", "actor_label"]
    list_filter = [CaseTypeFilter, ("created_at", admin.DateFieldListFilter)]
    search_fields = ["case_reference", "actor_label"]
    search_help_text = "An exact case reference (DSP-000123) or actor (a username, system:celery)."
    ordering = ["-created_at", "-id"]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        # Exact matches that journal_reference_idx and journal_actor_idx answer (not UPPER(…) = UPPER(…)).
        by_reference = queryset.filter(case_reference=term.upper())
        return by_reference | queryset.filter(actor_label=term), False


@admin.register(DeniedAttempt)
class DeniedAttemptAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "case_type", "case_reference", "action", "actor_label", "code"]
    list_filter = ["case_type", "code"]
