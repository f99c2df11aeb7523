"""What the insight pages keep: who looked at the audit trail, SLA targets, task run counts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class AuditAccess(models.Model):
    """One audit search, export or case-history view: who looked at what, with which filters."""

    class Action(models.TextChoices):
        SEARCH = "search", "Searched the journal"
        SEARCH_DENIED = "search_denied", "Searched refused attempts"
        SEARCH_ACCESS = "search_access", "Searched the access log"
        EXPORT = "export", "Exported the journal (CSV)"
        CASE_HISTORY = "case_history", "Opened a case history"
        CASE_HISTORY_PDF = "case_history_pdf", "Downloaded a case history (PDF)"
        REFUSED = "refused", "Was refused the audit pages"

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING,
                              db_constraint=False, related_name="+")
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=32, choices=Action.choices)
    params = models.JSONField(default=dict, blank=True, help_text="The filters as the user sent them.")
    case_type = models.CharField(max_length=32, blank=True)
    case_id = models.BigIntegerField(null=True, blank=True)
    result_rows = models.IntegerField(null=True, blank=True, help_text="Rows shown or exported, when known.")
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "audit access"
        verbose_name_plural = "audit accesses"
        indexes = [
            models.Index(fields=["created_at", "id"], name="auditaccess_created_idx"),
            models.Index(fields=["actor_label", "created_at"], name="auditaccess_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} at {self.created_at:%Y-%m-%d %H:%M}"


class SlaTarget(models.Model):
    """Targets a team lead is measured against, per case type (edited in the admin, journaled)."""

    class CaseType(models.TextChoices):
        DISPUTE = "dispute", "Dispute"
        REFUND = "refund", "Refund"
        EXTENSION = "extension", "Payment extension"

    case_type = models.CharField(max_length=32, choices=CaseType.choices, unique=True)
    first_response_minutes = models.PositiveIntegerField(
        help_text="Created → first human action (claim, comment, evidence, decision), in minutes.")
    handle_minutes = models.PositiveIntegerField(help_text="Claimed → terminal state, in minutes.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SLA target"
        constraints = [
            models.CheckConstraint(condition=Q(first_response_minutes__gt=0) & Q(handle_minutes__gt=0),
                                   name="slatarget_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.get_case_type_display()}: first response {self.first_response_minutes} min, " \
               f"handle {self.handle_minutes} min"


class TaskRunStat(models.Model):
    """Runs and failures per Celery task name, counted by the worker (see ``signals``)."""

    task = models.CharField(max_length=200, unique=True)
    runs = models.BigIntegerField(default=0)
    failures = models.BigIntegerField(default=0)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.task}: {self.runs} runs, {self.failures} failures"


class DashboardSummary(models.Model):
    """The dashboard's figures for a standard view, computed by the periodic task
    ``insight.refresh_dashboard`` (``kpis.summary_refresh``); the page reads this row instead of
    aggregating the case tables and the journal on every request (``kpis.summary_read``)."""

    key = models.CharField(max_length=160, unique=True, help_text="since:until:currency:time zone")
    figures = models.JSONField(help_text="kpis.dashboard_figures, as JSON (dates as ISO strings).")
    generated_at = models.DateTimeField()
    seconds = models.FloatField(default=0, help_text="How long computing the figures took.")

    class Meta:
        verbose_name_plural = "dashboard summaries"

    def __str__(self) -> str:
        return f"{self.key} at {self.generated_at:%Y-%m-%d %H:%M}"
