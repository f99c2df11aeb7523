"""/dashboard/: the KPIs team leads watch — backlog, overdue, win rate, dispute ratio (Mastercard
ECP formula: chargebacks this month ÷ card transactions last month), refund turnaround, promises kept.

Figures are computed with indexed aggregate queries and cached for a minute, so the page stays fast
at millions of rows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.apps import apps
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db.models import Avg, Count, F, Q
from django.db.models.functions import TruncWeek
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from backoffice.db.routers import use_replica
from backoffice.roles.predicates import can_read

CACHE_SECONDS = 60
OPEN_DISPUTE_STATES = ("inquiry", "needs_response", "under_review")
CLOSED_DISPUTE_OUTCOMES = ("won", "lost", "accepted", "expired")


def _month_start(moment):
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def dashboard_figures(*, now=None) -> dict[str, Any]:
    now = now or timezone.now()
    Dispute = apps.get_model("disputes", "Dispute")
    Refund = apps.get_model("refunds", "Refund") if apps.is_installed("refunds") else None
    Payment = apps.get_model("invoices", "Payment")
    figures: dict[str, Any] = {"generated_at": now}

    disputes = Dispute.objects.all()
    figures["disputes_open"] = disputes.filter(state__in=OPEN_DISPUTE_STATES).count()
    figures["disputes_overdue"] = disputes.filter(state="needs_response", internal_due_at__lt=now).count()
    figures["disputes_due_72h"] = disputes.filter(state="needs_response", internal_due_at__gte=now,
                                                  internal_due_at__lt=now + timedelta(hours=72)).count()
    since = now - timedelta(days=90)
    outcomes = dict(disputes.filter(state__in=CLOSED_DISPUTE_OUTCOMES, updated_at__gte=since)
                    .values_list("state").annotate(n=Count("id")).values_list("state", "n"))
    decided = sum(outcomes.values())
    figures["win_rate"] = round(100 * outcomes.get("won", 0) / decided, 1) if decided else None
    figures["outcomes"] = [(state, outcomes.get(state, 0)) for state in CLOSED_DISPUTE_OUTCOMES]

    this_month = _month_start(now)
    last_month = _month_start(this_month - timedelta(days=1))
    chargebacks = disputes.filter(created_at__gte=this_month).exclude(stage="inquiry")
    card_payments = Payment.objects.filter(method="card", captured_at__gte=last_month, captured_at__lt=this_month)
    per_network_cb = dict(chargebacks.values_list("network").annotate(n=Count("id")).values_list("network", "n"))
    per_network_tx = dict(card_payments.values_list("network").annotate(n=Count("id")).values_list("network", "n"))
    ratios = []
    for network in sorted(set(per_network_cb) | set(per_network_tx)):
        cb, tx = per_network_cb.get(network, 0), per_network_tx.get(network, 0)
        ratio = round(100 * cb / tx, 2) if tx else None
        ratios.append({"network": network, "chargebacks": cb, "transactions": tx, "ratio": ratio,
                       "flag": ratio is not None and ratio >= 1.5})
    figures["dispute_ratios"] = ratios

    weeks = (disputes.filter(created_at__gte=now - timedelta(weeks=12)).annotate(week=TruncWeek("created_at"))
             .values("week").annotate(n=Count("id")).order_by("week"))
    series = [(w["week"], w["n"]) for w in weeks]
    peak = max((n for _, n in series), default=0)
    bars = []
    for i, (week, n) in enumerate(series):
        height = round(90 * n / peak) if peak else 0
        bars.append({"week": week, "n": n, "x": i * 100 + 15, "label_x": i * 100 + 50, "y": 100 - height,
                     "height": height})
    figures["weekly_disputes"] = bars
    figures["chart_width"] = max(len(bars), 1) * 100

    if Refund is not None:
        refunds = Refund.objects.all()
        figures["refunds_pending"] = refunds.filter(state__in=("pending_approval", "pending_second_approval")).count()
        figures["refunds_failed"] = refunds.filter(state="failed").count()
        turnaround = refunds.filter(state="succeeded", updated_at__gte=now - timedelta(days=30)).aggregate(
            avg=Avg(F("updated_at") - F("created_at")))["avg"]
        figures["refund_turnaround_hours"] = round(turnaround.total_seconds() / 3600, 1) if turnaround else None
    if apps.is_installed("invoices") and "paymentextension" in apps.all_models["invoices"]:
        Extension = apps.get_model("invoices", "PaymentExtension")
        counts = Extension.objects.aggregate(
            open=Count("id", filter=Q(state__in=("requested", "approved"))),
            kept=Count("id", filter=Q(state="fulfilled")),
            broken=Count("id", filter=Q(state="broken")),
        )
        settled = counts["kept"] + counts["broken"]
        figures["extensions_open"] = counts["open"]
        figures["promises_kept_rate"] = round(100 * counts["kept"] / settled, 1) if settled else None
    return figures


@login_required
@use_replica
def dashboard(request):
    if not can_read(request.user):
        raise Http404("No role")
    figures = cache.get("dashboard-figures")
    if figures is None:
        figures = dashboard_figures()
        cache.set("dashboard-figures", figures, CACHE_SECONDS)
    return render(request, "dashboard.html", {"f": figures})
