"""Admin: disputes (read-only rows, transitions as actions through the services), reason codes, evidence.

The dispute list filters with ``DisputeFilter`` (the FilterSet of the queue page and the API):
each sidebar filter below applies that FilterSet's own filter, and the search box its ``q``.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import QueryDict

from backoffice.admin_mixins import ReadOnlyAdmin, transition_action
from backoffice.admin_money import money_display
from backoffice.errors import DomainError

from . import policy
from .filters import DisputeFilter
from .models import (
    AcceptanceProposal,
    CoverLetterTemplate,
    Dispute,
    DisputeReportImport,
    EvidenceItem,
    PspSubmission,
    ReasonCode,
)
from .services import cover_letter_template_set


def filterset_list_filter(filter_name: str, title: str, lookups=None) -> type[admin.SimpleListFilter]:
    """A sidebar filter that applies ``DisputeFilter``'s filter ``filter_name`` (choices from it by default)."""

    class FilterSetListFilter(admin.SimpleListFilter):
        parameter_name = filter_name

        def lookups(self, request, model_admin):
            if lookups is not None:
                return lookups
            return list(DisputeFilter.base_filters[filter_name].extra["choices"])

        def queryset(self, request, queryset: QuerySet) -> QuerySet:
            value = self.value()
            if value in (None, ""):
                return queryset
            data = QueryDict(mutable=True)
            data.setlist(filter_name, [value])
            filterset = DisputeFilter(data=data, queryset=queryset, request=request)
            return filterset.qs if filterset.is_valid() else queryset.none()

    FilterSetListFilter.title = title
    FilterSetListFilter.__name__ = f"{filter_name.title()}ListFilter"
    return FilterSetListFilter


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyAdmin):
    """Read-only: disputes come from the PSP or /disputes/new/ (``dispute_create``); states change only
    through transitions (the actions below, each with a reason)."""

    list_display = ["reference", "state", "stage", "network", "reason_code", "amount", "currency",
                    "assignee", "internal_due_at", "due_at"]
    list_select_related = ["reason_code", "assignee"]
    amount = money_display("amount_minor")
    list_filter = [
        filterset_list_filter("state", "state"),
        filterset_list_filter("stage", "stage"),
        filterset_list_filter("network", "network"),
        filterset_list_filter("category", "reason category"),
        filterset_list_filter("due_within", "internal due within",
                              lookups=[("1", "1 day"), ("3", "3 days"), ("7", "7 days")]),
    ]
    search_fields = ["reference"]
    search_help_text = "Reference (DSP-…), PSP dispute id, charge reference or customer name"
    ordering = ["internal_due_at", "id"]
    show_full_result_count = False
    list_per_page = 50
    readonly_fields = [f.name for f in Dispute._meta.fields]
    actions = [
        transition_action("open_chargeback", "Open chargeback", reason_required=False),
        transition_action("close_inquiry", "Close inquiry", reason_required=False),
        transition_action("submit_evidence", "Submit evidence", reason_required=False),
        transition_action("accept", "Accept (liability)", reason_required=False),
        transition_action("mark_won", "Mark won", reason_required=False),
        transition_action("mark_lost", "Mark lost", reason_required=False),
        transition_action("reopen", "Reopen at the next stage", reason_required=False),
    ]

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        filterset = DisputeFilter(data={"q": search_term}, queryset=queryset, request=request)
        return (filterset.qs if filterset.is_valid() else queryset.none()), False


@admin.register(ReasonCode)
class ReasonCodeAdmin(admin.ModelAdmin):
    list_display = ["network", "code", "title", "category", "response_days", "required_evidence"]
    list_filter = ["network", "category"]
    search_fields = ["code", "title"]
    ordering = ["network", "code"]
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None):
        return False  # disputes refer to them (PROTECT)


@admin.register(EvidenceItem)
class EvidenceItemAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "dispute", "kind", "original_name", "mime_type", "size", "added_by"]
    list_select_related = ["dispute", "added_by"]
    list_filter = ["kind"]
    search_fields = ["=dispute__reference"]
    readonly_fields = [f.name for f in EvidenceItem._meta.fields]
    show_full_result_count = False


@admin.register(CoverLetterTemplate)
class CoverLetterTemplateAdmin(admin.ModelAdmin):
    """The cover letter each reason code starts from; saved through ``cover_letter_template_set`` (team leads)."""

    list_display = ["reason_code", "updated_by", "updated_at"]
    list_select_related = ["reason_code", "updated_by"]
    fields = ["reason_code", "body"]
    autocomplete_fields = ["reason_code"]
    search_fields = ["reason_code__code", "reason_code__title"]
    help_texts = {"body": "Placeholders: $customer, $amount, $invoice, $captured, $reason_code, $reason_title, "
                          "$merchant, $prior_payments. Separate paragraphs with a blank line."}

    def has_add_permission(self, request):
        return policy.allows("edit_cover_letter_template", request.user)

    def has_change_permission(self, request, obj=None):
        return policy.allows("edit_cover_letter_template", request.user)

    def has_delete_permission(self, request, obj=None):
        return policy.allows("edit_cover_letter_template", request.user)

    def get_form(self, request, obj=None, **kwargs):
        kwargs["help_texts"] = self.help_texts
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request, obj, form, change):
        try:
            saved = cover_letter_template_set(actor=request.user, reason_code=obj.reason_code, body=obj.body)
            obj.pk = saved.pk
        except DomainError as err:
            messages.error(request, err.message)

    def delete_model(self, request, obj):
        cover_letter_template_set(actor=request.user, reason_code=obj.reason_code, body="")


@admin.register(AcceptanceProposal)
class AcceptanceProposalAdmin(ReadOnlyAdmin):
    """Specialists' proposals to accept liability, read-only (decided on the dispute page)."""

    list_display = ["created_at", "dispute", "proposed_by", "decision", "decided_by", "decided_at"]
    list_select_related = ["dispute", "proposed_by", "decided_by"]
    list_filter = ["decision"]
    search_fields = ["=dispute__reference"]
    readonly_fields = [f.name for f in AcceptanceProposal._meta.fields]
    show_full_result_count = False


@admin.register(PspSubmission)
class PspSubmissionAdmin(ReadOnlyAdmin):
    """Evidence sent to the PSPs: read-only (a team lead resends from the dispute page)."""

    list_display = ["dispute", "stage", "psp", "status", "attempts", "submitted_at", "last_error"]
    list_filter = ["psp", "status"]
    show_full_result_count = False


@admin.register(DisputeReportImport)
class DisputeReportImportAdmin(ReadOnlyAdmin):
    """Dispute report uploads: read-only (imports run from /disputes/import/ or the command)."""

    list_display = ["file_name", "psp", "status", "uploaded_by", "created_count", "updated_count", "created_at"]
    list_filter = ["psp", "status"]
    exclude = ["content"]
    show_full_result_count = False
