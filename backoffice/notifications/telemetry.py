"""Reminder and escalation metrics for /metrics (see ``backoffice.insight.registry``)."""

from __future__ import annotations

from django.db.models import Count

from backoffice.insight.registry import business_metric


@business_metric("backoffice_case_alerts", "Deadline reminders and overdue escalations sent (each claimed "
                 "once), per kind and offset in days before the internal due date.", kind="counter",
                 labels=("kind", "offset_days"))
def case_alerts():
    from .models import CaseAlert

    rows = CaseAlert.objects.order_by().values_list("kind", "offset_days").annotate(n=Count("id"))
    return [((kind, str(offset)), n) for kind, offset, n in rows]


@business_metric("backoffice_case_alert_emails_pending", "Reminders and escalations whose e-mail has not "
                 "gone out yet (the resend task retries them).", labels=("kind",))
def case_alert_emails_pending():
    from .models import CaseAlert

    rows = CaseAlert.objects.filter(emailed_at__isnull=True).order_by().values_list("kind").annotate(n=Count("id"))
    return [((kind, ), n) for kind, n in rows]
