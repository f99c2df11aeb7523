"""/dashboard/: the team lead's figures. Each figure's numbers come as a table (``tables``), shown
under its chart and downloadable as CSV from ``/dashboard/<name>.csv`` with the same filters."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from backoffice.db.routers import use_replica
from backoffice.money import format_minor
from backoffice.roles.predicates import can_read, is_team_lead
from backoffice.roles.selectors import workers

from . import kpis
from .audit import EARLIEST, LATEST, neutralise
from .charts import Series, bar_chart

CACHE_SECONDS = 60
DEFAULT_DAYS = 30
MAX_DAYS = 731


class DashboardForm(forms.Form):
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    currency = forms.CharField(required=False, max_length=3)

    def clean_currency(self) -> str:
        value = (self.cleaned_data.get("currency") or "").strip().upper()
        if value and not re.fullmatch(r"[A-Z]{3}", value):
            raise forms.ValidationError("A three-letter ISO 4217 code, e.g. EUR.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        today = timezone.localdate()
        until = data.get("until") or today
        since = data.get("since") or until - timedelta(days=DEFAULT_DAYS - 1)
        for name, value in (("since", since), ("until", until)):
            if not EARLIEST <= value <= LATEST:
                self.add_error(name, f"Choose a date between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}.")
        if since > until:
            self.add_error("until", "The last day is before the first day.")
        elif (until - since).days >= MAX_DAYS:
            self.add_error("since", "Choose at most two years.")
        data["since"], data["until"] = since, until
        return data

    def filters(self) -> kpis.Filters:
        return kpis.Filters(since=self.cleaned_data["since"], until=self.cleaned_data["until"],
                            currency=self.cleaned_data.get("currency") or None, tz=timezone.get_current_timezone())


@dataclass
class Table:
    name: str
    title: str
    header: list[str]
    rows: list[list[Any]]


def _hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} h"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value} %"


def _money(amount: int, currency: str) -> str:
    return format_minor(amount, currency)


def tables(fig: dict[str, Any], sections: list[dict[str, Any]] | None = None) -> dict[str, Table]:
    out: dict[str, Table] = {}

    def add(name: str, title: str, header: list[str], rows: list[list[Any]]) -> None:
        out[name] = Table(name, title, header, rows)

    outcomes = kpis.dispute_outcomes()
    add("weekly", "Disputes per week", ["week starting", "opened", *outcomes.all],
        [[w["week"].isoformat(), w["opened"], *(w[o] for o in outcomes.all)] for w in fig["weekly"]])
    for key, label in (("network", "network"), ("category", "reason category")):
        add(f"win_{key}", f"Outcomes and win rate by {label}",
            [label, *outcomes.all, f"win rate ({'+'.join(outcomes.won)} ÷ {'+'.join(outcomes.fought)})",
             f"recovery rate ({'+'.join(outcomes.won)} ÷ all)"],
            [[r["label"], *(r[o] for o in outcomes.all), _pct(r["win_rate"]), _pct(r["recovery_rate"])]
             for r in fig["win"][key]])
    add("amounts", "Amounts disputed, recovered and lost (per currency, never summed across currencies)",
        ["currency", "chargebacks opened", "disputed", f"recovered ({', '.join(outcomes.won)})",
         f"lost ({', '.join(outcomes.lost)})"],
        [[a["currency"], a["opened"], _money(a["disputed"], a["currency"]), _money(a["recovered"], a["currency"]),
          _money(a["lost"], a["currency"])] for a in fig["amounts"]])
    add("ratios", "Chargeback ratio per network per month (UTC months)",
        ["network", "month", "chargebacks", "transactions (denominator)", "ratio", "program", "threshold",
         "count floor", "projected chargebacks", "projected ratio", "status"],
        [[r["network"], r["month"].strftime("%Y-%m"), r["chargebacks"], r["transactions"],
          "—" if r["ratio"] is None else f"{r['ratio']} %", r["program"].name if r["program"] else "—",
          f"{r['program'].threshold_percent} %" if r["program"] else "—",
          r["program"].count_floor if r["program"] else "—",
          "—" if r["projected_chargebacks"] is None else r["projected_chargebacks"],
          "—" if r["projected_ratio"] is None else f"{r['projected_ratio']} %", STATUS_LABELS[r["status"]]]
         for r in fig["ratios"]])
    rf = fig["refunds"]
    add("refund_volume", "Refunds requested (per currency) and refund rate",
        ["currency", "refunds requested", "amount", "payments captured", "refund rate (refunds ÷ payments)"],
        [[v["currency"], v["count"], _money(v["amount"], v["currency"]), v["payments"], _pct(v["rate"])]
         for v in rf["volume"]])
    add("refund_times", "Refund turnaround and approval latency",
        ["measure", "refunds", "median", "90th percentile"],
        [["turnaround: requested → succeeded", rf["turnaround"]["n"], _hours(rf["turnaround"]["median"]),
          _hours(rf["turnaround"]["p90"])],
         ["approval latency: requested → approved", rf["approval"]["n"], _hours(rf["approval"]["median"]),
          _hours(rf["approval"]["p90"])]])
    add("refund_failures", "Refund failures by PSP code", ["PSP failure code", "failed refunds"],
        [[f["code"], f["count"]] for f in rf["failures"]])
    ex = fig["extensions"]
    add("extensions", "Payment extensions: promises kept and broken",
        ["kept", "broken", "kept rate (kept ÷ kept+broken)"], [[ex["kept"], ex["broken"], _pct(ex["kept_rate"])]])
    add("deferred", "Amount deferred by approved extensions (invoice totals, per currency)",
        ["currency", "extensions approved", "amount deferred"],
        [[d["currency"], d["count"], _money(d["amount"], d["currency"])] for d in ex["deferred"]])
    hd = fig["handling"]
    add("handling_type", "First response and handle time per case type, against the SLA targets",
        ["case type", "cases", "first response median", "p90", "target", "within target",
         "handled", "handle median", "p90", "target", "within target"],
        [[h["case_type"], h["first_response"]["n"], _hours(h["first_response"]["median"]),
          _hours(h["first_response"]["p90"]), _hours(h["first_response_target"]),
          _pct(h["first_response"]["within_target"]),
          h["handle"]["n"], _hours(h["handle"]["median"]), _hours(h["handle"]["p90"]), _hours(h["handle_target"]),
          _pct(h["handle"]["within_target"])] for h in hd["by_type"]])
    add("handling_person", "First response and handle time per specialist",
        ["specialist", "case type", "first responses", "median", "p90", "within target", "cases handled",
         "handle median", "p90", "within target"],
        [[p["person"], p["case_type"], p["first_response"]["n"], _hours(p["first_response"]["median"]),
          _hours(p["first_response"]["p90"]), _pct(p["first_response"]["within_target"]), p["handle"]["n"],
          _hours(p["handle"]["median"]), _hours(p["handle"]["p90"]), _pct(p["handle"]["within_target"])]
         for p in hd["by_person"]])
    buckets = [b for *_, b in kpis.AGE_BUCKETS]
    add("backlog", "Open cases by age (now)", ["case type", *buckets, "total"],
        [[b["label"], *[c["count"] for c in b["buckets"]], b["total"]] for b in fig["backlog"]])
    add("receivables", "Receivables: DSO and overdue by age (per currency)",
        ["currency", "outstanding now", "invoiced in range", "DSO (days)",
         *[f"overdue {b}" for *_, b in kpis.OVERDUE_BUCKETS]],
        [[r["currency"], _money(r["outstanding"], r["currency"]), _money(r["invoiced"], r["currency"]),
          "—" if r["dso_days"] is None else r["dso_days"],
          *[_money(o["amount"], r["currency"]) for o in r["overdue_rows"]]] for r in fig["receivables"]])
    for section in _sections() if sections is None else sections:
        add(section["name"], section["title"], section["header"], section["rows"])
    return out


def _sections() -> list[dict[str, Any]]:
    """Figures the case types add through the registry (e.g. reconciliation), read now, not cached."""
    from backoffice.cases.registry import dashboard_sections

    return dashboard_sections()


STATUS_LABELS = {"excessive": "EXCESSIVE — above the program's ratio and floor",
                 "warning": "WARNING — projected or close to the threshold",
                 "under_floor": "above the ratio, under the count floor", "ok": "ok", "none": "no program"}


def charts(fig: dict[str, Any]) -> dict[str, Any]:
    weekly = fig["weekly"]
    outcomes = kpis.dispute_outcomes()
    out = {
        "weekly": bar_chart(chart_id="chart-weekly", title="Disputes per week: opened and outcomes",
                            categories=[w["week"].strftime("%d %b") for w in weekly],
                            series=[Series(name, [w[name] for w in weekly]) for name in ("opened", *outcomes.all)]),
        "win": bar_chart(chart_id="chart-win", unit=" %",
                         title=f"Win rate by network ({' + '.join(outcomes.won)} ÷ {' + '.join(outcomes.fought)})",
                         categories=[r["label"] for r in fig["win"]["network"]],
                         series=[Series("win rate", [r["win_rate"] for r in fig["win"]["network"]]),
                                 Series("recovery rate", [r["recovery_rate"] for r in fig["win"]["network"]])]),
        "backlog": bar_chart(chart_id="chart-backlog", title="Open cases by age",
                             categories=[b for *_, b in kpis.AGE_BUCKETS],
                             series=[Series(b["label"], [c["count"] for c in b["buckets"]]) for b in fig["backlog"]]),
        "ratios": [],
    }
    for network in ("visa", "mastercard"):
        rows = [r for r in fig["ratios"] if r["network"] == network]
        if not rows:
            continue
        program = next((r["program"] for r in reversed(rows) if r["program"]), None)
        out["ratios"].append({"network": network, "program": program, "svg": bar_chart(
            chart_id=f"chart-ratio-{network}", title=f"{network.title()} chargeback ratio per month", unit=" %",
            categories=[r["month"].strftime("%b %Y") for r in rows],
            series=[Series("ratio", [r["ratio"] for r in rows]),
                    Series("projected", [r["projected_ratio"] for r in rows])],
            threshold=program.threshold_percent if program else None,
            threshold_label=f"{program.name} {program.threshold_percent} %" if program else "")})
    return out


def _tiles(figures: dict[str, Any], workload: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Headline counts, each linking to the queue that lists exactly those cases."""
    from urllib.parse import urlencode

    from backoffice.cases.registry import case_types

    from .telemetry import open_states

    specs = {spec.model.CASE_TYPE: spec for spec in case_types()}
    tiles = []
    for row in figures["backlog"]:
        spec = specs[row["case_type"]]
        query = urlencode([("type", spec.key), *[("state", s) for s in open_states(spec.model)]])
        tiles.append({"label": f"Open {spec.label.lower()}", "value": row["total"], "kpi": f"open_{spec.key}",
                      "url": f"/queues/all/?{query}"})
    for w in workload:
        overdue = sum(p["overdue"] for p in w["people"])
        due = sum(p["due_72h"] for p in w["people"])
        tiles.append({"label": f"{w['spec'].label}: overdue", "value": overdue, "kpi": f"overdue_{w['spec'].key}",
                      "url": f"/queues/overdue/?type={w['spec'].key}", "alert": bool(overdue)})
        tiles.append({"label": f"{w['spec'].label}: due within 72 h", "value": due, "kpi": f"due_{w['spec'].key}",
                      "url": f"/queues/due-soon/?type={w['spec'].key}"})
    return tiles


def _figures(form: DashboardForm) -> dict[str, Any]:
    """The view's figures: from the summary table when the periodic task keeps this view (the default
    one), else computed now and cached for a minute."""
    f = form.filters()
    figures = kpis.summary_read(f)
    if figures is not None:
        return figures
    key = f"dashboard:{f.since}:{f.until}:{f.currency}:{timezone.get_current_timezone_name()}"
    figures = cache.get(key)
    if figures is None:
        figures = kpis.dashboard_figures(f)
        cache.set(key, figures, CACHE_SECONDS)
    return figures


def _reader_or_404(request: HttpRequest) -> None:
    if not can_read(request.user):
        raise Http404("No role")


@login_required
@use_replica
def dashboard(request: HttpRequest) -> HttpResponse:
    _reader_or_404(request)
    form = DashboardForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return render(request, "insight/dashboard.html", {"form": form, "f": None, "since": "", "until": "",
                                                          "currencies": kpis.currencies()}, status=400)
    if not form.is_bound:
        form = DashboardForm({})
        form.is_valid()
    figures = _figures(form)
    currencies = figures.get("currencies") or kpis.currencies()
    lead = bool(is_team_lead(request.user))
    assignees = []
    if lead:
        assignees = list(workers())
    now = timezone.now()
    query = request.GET.copy()
    workload = kpis.workload(now=now, currency=form.cleaned_data.get("currency") or None)
    sections = _sections()
    figure_tables = tables(figures, sections)
    return render(request, "insight/dashboard.html", {
        "tiles": _tiles(figures, workload),
        "form": form, "f": figures, "tables": figure_tables, "charts": charts(figures),
        "sections": [{**s, "table": figure_tables[s["name"]]} for s in sections],
        "workload": workload,
        "can_reassign": lead, "assignees": assignees, "query": query.urlencode(),
        "currencies": currencies, "since": form.cleaned_data["since"], "until": form.cleaned_data["until"],
        "tz": timezone.get_current_timezone_name(),
    })


@login_required
@use_replica
def dashboard_csv(request: HttpRequest, name: str) -> HttpResponse:
    _reader_or_404(request)
    form = DashboardForm(request.GET or {})
    if not form.is_valid():
        return HttpResponse("; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()), status=400,
                            content_type="text/plain; charset=utf-8")
    table = tables(_figures(form)).get(name)
    if table is None:
        raise Http404("No such figure")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stamp = f"{form.cleaned_data['since']:%Y%m%d}-{form.cleaned_data['until']:%Y%m%d}"
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    writer = csv.writer(response)
    writer.writerow(table.header)
    for row in table.rows:
        writer.writerow([neutralise(v) if isinstance(v, str) else v for v in row])
    return response

