"""The figures of /dashboard/, each a selector over a date range (inclusive local days) and an
optional currency. Amounts are never added across currencies: every sum is per currency.

Definitions (also shown on the page):
- A dispute *opened* in the range was created in it; an *outcome* (won, lost, accepted, expired)
  counts in the range its ``resolved_at`` falls in. Inquiries are not chargebacks and are left out
  of the amounts and ratios.
- *Win rate* = won ÷ (won + lost): disputes fought to a decision. Accepted (conceded) and expired
  (not answered in time) are shown beside it, and *recovery rate* = won ÷ all four outcomes.
- Medians and 90th percentiles interpolate linearly between ranks (PostgreSQL's percentile_cont).
- *First response*: case created → its first journal row by a person after creation (claim,
  evidence, a decision …). *Handle time*: first claim → first terminal state. Both over the cases
  created in the range; a case counts for the specialist who acted first / claimed it.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.apps import apps
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth, TruncWeek
from django.utils import timezone

from backoffice.journal.models import JournalEntry

from .programs import EARLY_WARNING_SHARE, program_for

AGE_BUCKETS = ((0, 1, "under 1 day"), (1, 3, "1–3 days"), (3, 7, "3–7 days"), (7, 14, "7–14 days"),
               (14, 30, "14–30 days"), (30, None, "30 days or more"))
OVERDUE_BUCKETS = ((0, 30, "1–30 days"), (30, 60, "31–60 days"), (60, 90, "61–90 days"), (90, None, "over 90 days"))


@dataclass(frozen=True)
class Filters:
    since: date
    until: date  # inclusive
    currency: str | None = None
    tz: Any = UTC

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time.min, tzinfo=self.tz).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.until + timedelta(days=1), time.min, tzinfo=self.tz).astimezone(UTC)

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1

    def in_range(self, field_name: str) -> Q:
        return Q(**{f"{field_name}__gte": self.start, f"{field_name}__lt": self.end})

    def currency_q(self, field_name: str = "currency") -> Q:
        return Q(**{field_name: self.currency}) if self.currency else Q()


def percentile(values: list[float], share: float) -> float | None:
    """Linear interpolation between closest ranks (as PostgreSQL's percentile_cont)."""
    if not values:
        return None
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _model(label: str, name: str):
    return apps.get_model(label, name)


# ---- disputes ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcomes:
    """A dispute's outcome states, as the disputes workflow exports them (``closed`` inquiries are none)."""

    won: tuple[str, ...]  # recovered
    lost: tuple[str, ...]  # lost at the network, conceded (accepted) or not answered in time (expired)
    fought: tuple[str, ...]  # decided by the network after a defence: the win rate's denominator

    @property
    def all(self) -> tuple[str, ...]:
        return self.won + self.lost


def _case_model(key: str) -> Any:
    """A case type's model, through the case registry (the state sets it exports are class attributes)."""
    from backoffice.cases.registry import get_case_type

    return get_case_type(key).model


def _values(states: Any) -> tuple[str, ...]:
    """State values as plain strings (keys of the figures, JSON in the dashboard summary)."""
    return tuple(str(state) for state in states)


def _disputes() -> Any:
    return _case_model("disputes")


def dispute_outcomes() -> Outcomes:
    model = _disputes()
    return Outcomes(won=_values(model.WON_STATES), lost=_values(model.LOST_STATES),
                    fought=_values(model.FOUGHT_STATES))


def disputes_per_week(f: Filters) -> list[dict[str, Any]]:
    Dispute = _disputes()
    outcomes = dispute_outcomes().all
    base = Dispute.objects.filter(f.currency_q()).order_by()
    weeks: dict[date, dict[str, Any]] = {}

    def week_row(week: datetime) -> dict[str, Any]:
        day = week.astimezone(f.tz).date() if isinstance(week, datetime) else week
        return weeks.setdefault(day, {"week": day, "opened": 0, **{o: 0 for o in outcomes}})

    for row in (base.filter(f.in_range("created_at")).annotate(week=TruncWeek("created_at", tzinfo=f.tz))
                .values("week").annotate(n=Count("id"))):
        week_row(row["week"])["opened"] = row["n"]
    for row in (base.filter(f.in_range("resolved_at"), state__in=outcomes)
                .annotate(week=TruncWeek("resolved_at", tzinfo=f.tz)).values("week", "state").annotate(n=Count("id"))):
        week_row(row["week"])[row["state"]] = row["n"]
    first = f.since - timedelta(days=f.since.weekday())
    day = first
    while day <= f.until:
        week_row(day)
        day += timedelta(days=7)
    return [weeks[k] for k in sorted(weeks)]


def _outcome_rows(groups: dict[str, dict[str, int]], labels: dict[str, str]) -> list[dict[str, Any]]:
    outcomes = dispute_outcomes()
    rows = []
    for key in sorted(groups, key=lambda k: str(labels.get(k, k))):
        c = groups[key]
        won = sum(c[o] for o in outcomes.won)
        decided = sum(c[o] for o in outcomes.fought)
        everything = sum(c[o] for o in outcomes.all)
        rows.append({"key": key, "label": str(labels.get(key, key)), **c, "decided": decided,
                     "win_rate": rate(won, decided), "recovery_rate": rate(won, everything)})
    return rows


def win_rates(f: Filters) -> dict[str, list[dict[str, Any]]]:
    Dispute = _disputes()
    networks = dict(Dispute._meta.get_field("network").choices)
    categories = dict(_model("disputes", "ReasonCode")._meta.get_field("category").choices)
    outcomes = dispute_outcomes().all
    qs = Dispute.objects.filter(f.currency_q(), f.in_range("resolved_at"), state__in=outcomes).order_by()
    by_network: dict[str, dict[str, int]] = defaultdict(lambda: {o: 0 for o in outcomes})
    by_category: dict[str, dict[str, int]] = defaultdict(lambda: {o: 0 for o in outcomes})
    for network, category, state, n in (qs.values_list("network", "reason_code__category", "state")
                                        .annotate(n=Count("id"))):
        by_network[network][state] += n
        by_category[category][state] += n
    return {"network": _outcome_rows(by_network, networks),
            "category": _outcome_rows(by_category, categories)}


def dispute_amounts(f: Filters) -> list[dict[str, Any]]:
    """Per currency: disputed (chargebacks opened), recovered (won), lost (lost + accepted + expired)."""
    Dispute = _disputes()
    qs = Dispute.objects.filter(f.currency_q()).exclude(stage=Dispute.Stage.INQUIRY).order_by()
    out: dict[str, dict[str, Any]] = defaultdict(lambda: {"disputed": 0, "recovered": 0, "lost": 0,
                                                         "opened": 0})
    for currency, n, total in (qs.filter(f.in_range("created_at")).values_list("currency")
                               .annotate(n=Count("id"), total=Sum("amount_minor"))):
        out[currency]["disputed"] = total or 0
        out[currency]["opened"] = n
    outcomes = dispute_outcomes()
    for currency, state, total in (qs.filter(f.in_range("resolved_at"), state__in=outcomes.all)
                                   .values_list("currency", "state").annotate(total=Sum("amount_minor"))):
        out[currency]["recovered" if state in outcomes.won else "lost"] += total or 0
    return [{"currency": c, **out[c]} for c in sorted(out)]


def _months(f: Filters, now: datetime) -> list[date]:
    last = min(f.until, now.astimezone(f.tz).date()).replace(day=1)
    first = f.since.replace(day=1)
    months = []
    month = first
    while month <= last:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months[-13:]


def network_ratios(f: Filters, *, now: datetime) -> list[dict[str, Any]]:
    """Chargeback ratio per network per month, against Visa VAMP and Mastercard ECP, with the current
    month projected linearly from its elapsed share. Months are calendar months in UTC."""
    Dispute = _disputes()
    Payment = _model("invoices", "Payment")
    months = _months(f, now)
    if not months:
        return []
    start = datetime.combine(months[0], time.min, tzinfo=UTC)
    previous = datetime.combine((months[0] - timedelta(days=1)).replace(day=1), time.min, tzinfo=UTC)
    end = datetime.combine((months[-1] + timedelta(days=32)).replace(day=1), time.min, tzinfo=UTC)
    chargebacks: dict[tuple[str, date], int] = defaultdict(int)
    for network, month, n in (Dispute.objects.filter(created_at__gte=start, created_at__lt=end)
                              .exclude(stage=Dispute.Stage.INQUIRY).annotate(month=TruncMonth("created_at", tzinfo=UTC))
                              .values_list("network", "month").annotate(n=Count("id")).order_by()):
        chargebacks[(network, month.date() if isinstance(month, datetime) else month)] += n
    transactions: dict[tuple[str, date], int] = defaultdict(int)
    for network, month, n in (Payment.objects.filter(method="card", captured_at__gte=previous, captured_at__lt=end)
                              .annotate(month=TruncMonth("captured_at", tzinfo=UTC))
                              .values_list("network", "month").annotate(n=Count("id")).order_by()):
        transactions[(network, month.date() if isinstance(month, datetime) else month)] += n
    networks = sorted({n for n, _ in chargebacks} | {n for n, m in transactions if m >= months[0]})
    this_month = now.astimezone(UTC).date().replace(day=1)
    rows = []
    for network in networks:
        for month in months:
            prev_month = (month - timedelta(days=1)).replace(day=1)
            program = program_for(network, month)
            count = chargebacks.get((network, month), 0)
            denominator_month = prev_month if program and program.denominator == "previous_month" else month
            denominator = transactions.get((network, denominator_month), 0)
            row = {"network": network, "month": month, "chargebacks": count, "transactions": denominator,
                   "ratio": round(100 * count / denominator, 2) if denominator else None,
                   "program": program, "current": month == this_month,
                   "projected_chargebacks": None, "projected_ratio": None}
            if month == this_month:
                days_in_month = calendar.monthrange(month.year, month.month)[1]
                elapsed = (now.astimezone(UTC) - datetime.combine(month, time.min, tzinfo=UTC)).total_seconds() / 86400
                scale = days_in_month / max(elapsed, 1 / 24)
                projected = count * scale
                projected_denominator = denominator * scale if program is None or \
                    program.denominator == "same_month" else denominator
                row["projected_chargebacks"] = round(projected)
                row["projected_ratio"] = round(100 * projected / projected_denominator, 2) \
                    if projected_denominator else None
            row["status"] = _program_status(row)
            rows.append(row)
    return rows


def _program_status(row: dict[str, Any]) -> str:
    """excessive · warning (projected to cross, or at 80 % of the ratio above the floor) · under floor · ok."""
    program = row["program"]
    if program is None or row["ratio"] is None:
        return "none"
    threshold = program.threshold_percent
    if row["ratio"] >= threshold and row["chargebacks"] >= program.count_floor:
        return "excessive"
    if row["current"] and row["projected_ratio"] is not None and row["projected_ratio"] >= threshold \
            and row["projected_chargebacks"] >= program.count_floor:
        return "warning"
    if row["ratio"] >= EARLY_WARNING_SHARE * threshold and row["chargebacks"] >= program.count_floor:
        return "warning"
    if row["ratio"] >= threshold:
        return "under_floor"
    return "ok"


# ---- refunds -----------------------------------------------------------------------------------

def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def refunds(f: Filters) -> dict[str, Any]:
    Refund = _model("refunds", "Refund")
    Payment = _model("invoices", "Payment")
    base = Refund.objects.filter(f.currency_q()).order_by()
    requested = list(base.filter(f.in_range("created_at")).values_list("currency").annotate(
        n=Count("id"), total=Sum("amount_minor")))
    payments = dict(Payment.objects.filter(f.currency_q(), f.in_range("captured_at")).order_by()
                    .values_list("currency").annotate(n=Count("id")).values_list("currency", "n"))
    volume = [{"currency": c, "count": n, "amount": total or 0, "payments": payments.get(c, 0),
               "rate": rate(n, payments.get(c, 0))} for c, n, total in sorted(requested)]
    turnaround = [_hours(s - c) for c, s in base.filter(f.in_range("succeeded_at"), succeeded_at__isnull=False)
                  .values_list("created_at", "succeeded_at")]
    approval = [_hours(a - c) for c, a in base.filter(f.in_range("approved_at"), approved_at__isnull=False)
                .values_list("created_at", "approved_at")]
    failures = list(base.filter(f.in_range("failed_at"), failed_at__isnull=False).values_list("failure_code")
                    .annotate(n=Count("id")).order_by("-n", "failure_code"))
    return {
        "volume": volume,
        "requested": sum(v["count"] for v in volume),
        "turnaround": {"n": len(turnaround), "median": percentile(turnaround, 0.5), "p90": percentile(turnaround, 0.9)},
        "approval": {"n": len(approval), "median": percentile(approval, 0.5), "p90": percentile(approval, 0.9)},
        "failures": [{"code": code or "unknown", "count": n} for code, n in failures],
    }


# ---- extensions --------------------------------------------------------------------------------

def extensions(f: Filters) -> dict[str, Any]:
    Extension = _case_model("extensions")
    kept_states, broken_states = _values(Extension.KEPT_STATES), _values(Extension.BROKEN_STATES)
    base = Extension.objects.filter(f.currency_q("invoice__currency")).order_by()
    closed = dict(base.filter(f.in_range("closed_at"), state__in=kept_states + broken_states).values_list("state")
                  .annotate(n=Count("id")).values_list("state", "n"))
    kept, broken = sum(closed.get(s, 0) for s in kept_states), sum(closed.get(s, 0) for s in broken_states)
    deferred = list(base.filter(f.in_range("decided_at"), state__in=_values(Extension.GRANTED_STATES))
                    .values_list("invoice__currency").annotate(n=Count("id"), total=Sum("invoice__amount_minor"))
                    .order_by("invoice__currency"))
    return {"kept": kept, "broken": broken, "kept_rate": rate(kept, kept + broken),
            "deferred": [{"currency": c, "count": n, "amount": total or 0} for c, n, total in deferred]}


# ---- handling ----------------------------------------------------------------------------------

@dataclass
class _Durations:
    first_response: list[float] = field(default_factory=list)
    handle: list[float] = field(default_factory=list)


def _summary(values: list[float], target_hours: float | None) -> dict[str, Any]:
    within = sum(1 for v in values if target_hours is not None and v <= target_hours)
    return {"n": len(values), "median": percentile(values, 0.5), "p90": percentile(values, 0.9),
            "within_target": rate(within, len(values)) if target_hours is not None else None}


def handling(f: Filters) -> dict[str, Any]:
    from backoffice.cases.registry import case_types

    from .models import SlaTarget

    targets = {t.case_type: t for t in SlaTarget.objects.all()}
    per_type: dict[str, _Durations] = defaultdict(_Durations)
    per_person: dict[tuple[str, str], _Durations] = defaultdict(_Durations)
    for spec in case_types():
        model = spec.model
        case_type = model.CASE_TYPE
        cases = model.objects.filter(f.in_range("created_at"))
        if f.currency and any(fl.name == "currency" for fl in model._meta.get_fields()):
            cases = cases.filter(currency=f.currency)
        rows = (JournalEntry.objects.filter(case_type=case_type, case_id__in=cases.values("pk"))
                .order_by("case_id", "seq").values_list("case_id", "seq", "transition", "actor_id", "actor_label",
                                                         "target_state", "created_at"))
        for _, chain in _by_case(rows):
            created = chain[0][6]
            first = next((r for r in chain[1:] if r[3] is not None), None)
            if first is not None:
                hours = _hours(first[6] - created)
                per_type[case_type].first_response.append(hours)
                per_person[(first[4], case_type)].first_response.append(hours)
            claim = next((r for r in chain if r[2] == "claim"), None)
            done = next((r for r in chain if r[5] in spec.final_states and r[2] != "created"), None)
            if claim is not None and done is not None and done[6] >= claim[6]:
                hours = _hours(done[6] - claim[6])
                per_type[case_type].handle.append(hours)
                per_person[(claim[4], case_type)].handle.append(hours)

    def target(case_type: str, attr: str) -> float | None:
        t = targets.get(case_type)
        return getattr(t, attr) / 60 if t else None

    by_type = [{"case_type": ct, "first_response": _summary(d.first_response, target(ct, "first_response_minutes")),
                "handle": _summary(d.handle, target(ct, "handle_minutes")),
                "first_response_target": target(ct, "first_response_minutes"),
                "handle_target": target(ct, "handle_minutes")}
               for ct, d in sorted(per_type.items())]
    by_person = [{"person": person, "case_type": ct,
                  "first_response": _summary(d.first_response, target(ct, "first_response_minutes")),
                  "handle": _summary(d.handle, target(ct, "handle_minutes"))}
                 for (person, ct), d in sorted(per_person.items())]
    return {"by_type": by_type, "by_person": by_person}


def _by_case(rows: Iterable[tuple]) -> Iterable[tuple[int, list[tuple]]]:
    current, chain = None, []
    for row in rows:
        if row[0] != current:
            if chain:
                yield current, chain
            current, chain = row[0], []
        chain.append(row)
    if chain:
        yield current, chain


def backlog(*, now: datetime, currency: str | None = None) -> list[dict[str, Any]]:
    """Open cases (not terminal) by age since creation, per case type — as of now."""
    from backoffice.cases.registry import case_types

    from .telemetry import open_states

    rows = []
    for spec in case_types():
        model = spec.model
        qs = model.objects.filter(state__in=open_states(model)).order_by()
        if currency and any(fl.name == "currency" for fl in model._meta.get_fields()):
            qs = qs.filter(currency=currency)
        buckets = {}
        for index, (low, high, _label) in enumerate(AGE_BUCKETS):
            q = Q(created_at__lte=now - timedelta(days=low))
            if high is not None:
                q &= Q(created_at__gt=now - timedelta(days=high))
            buckets[f"b{index}"] = Count("pk", filter=q)
        totals = qs.aggregate(**buckets)  # one query per case type, every bucket in it
        counts = [{"bucket": label, "count": totals[f"b{index}"]}
                  for index, (_low, _high, label) in enumerate(AGE_BUCKETS)]
        rows.append({"case_type": model.CASE_TYPE, "label": spec.label, "buckets": counts,
                     "total": sum(c["count"] for c in counts)})
    return rows


def workload(*, now: datetime, currency: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Per case type and assignee: open cases overdue and due in the next 72 hours, with the cases."""
    from backoffice.cases.registry import case_types

    out = []
    for spec in case_types():
        model = spec.model
        due = spec.due_field
        qs = (model.objects.filter(state__in=spec.open_states, **{f"{due}__lt": now + timedelta(hours=72)})
              .select_related("assignee").order_by(due, "pk"))
        if currency and any(fl.name == "currency" for fl in model._meta.get_fields()):
            qs = qs.filter(currency=currency)
        people: dict[str, dict[str, Any]] = {}
        counted = (qs.order_by().values_list("assignee__username")
                   .annotate(overdue=Count("pk", filter=Q(**{f"{due}__lt": now})),
                             soon=Count("pk", filter=Q(**{f"{due}__gte": now}))))
        for who, overdue, soon in counted:
            people[who or ""] = {"assignee": who or "", "overdue": overdue, "due_72h": soon}
        cases = list(qs[:limit])
        for case in cases:
            case.is_overdue = getattr(case, due) < now
        out.append({"spec": spec, "case_type": model.CASE_TYPE,
                    "people": sorted(people.values(), key=lambda p: (p["assignee"] == "", p["assignee"])),
                    "cases": cases, "truncated": len(cases) >= limit})
    return out


# ---- receivables -------------------------------------------------------------------------------

def receivables(f: Filters, *, now: datetime) -> list[dict[str, Any]]:
    """Per currency: DSO = receivables outstanding now ÷ invoiced in the range × days in the range;
    overdue receivables by days past due."""
    Invoice = _model("invoices", "Invoice")
    Payment = _model("invoices", "Payment")
    open_invoices = Invoice.objects.filter(f.currency_q(), status__in=("open", "overdue")).order_by()
    paid = dict(Payment.objects.filter(invoice__in=open_invoices.values("pk")).values_list("invoice_id")
                .annotate(total=Sum("amount_minor")).values_list("invoice_id", "total").order_by())
    per: dict[str, dict[str, Any]] = defaultdict(lambda: {"outstanding": 0, "invoiced": 0,
                                                          "overdue": {label: 0 for *_, label in OVERDUE_BUCKETS}})
    for pk, currency, amount, due_at in open_invoices.values_list("pk", "currency", "amount_minor", "due_at"):
        left = max(amount - (paid.get(pk) or 0), 0)
        per[currency]["outstanding"] += left
        if due_at < now and left:
            days = (now - due_at).total_seconds() / 86400
            for low, high, label in OVERDUE_BUCKETS:
                if days > low and (high is None or days <= high):
                    per[currency]["overdue"][label] += left
                    break
    for currency, total in (Invoice.objects.filter(f.currency_q(), f.in_range("issued_at")).exclude(status="void")
                            .exclude(status="draft").values_list("currency").annotate(total=Sum("amount_minor"))
                            .order_by()):
        per[currency]["invoiced"] = total or 0
    rows = []
    for currency in sorted(per):
        p = per[currency]
        dso = round(p["outstanding"] / p["invoiced"] * f.days, 1) if p["invoiced"] else None
        overdue = [{"bucket": label, "amount": p["overdue"][label]} for *_, label in OVERDUE_BUCKETS]
        rows.append({"currency": currency, **p, "dso_days": dso, "overdue_rows": overdue})
    return rows


def currencies() -> list[str]:
    Dispute = _disputes()
    Refund = _model("refunds", "Refund")
    Invoice = _model("invoices", "Invoice")
    found: set[str] = set()
    for model in (Dispute, Refund, Invoice):
        found |= set(model.objects.order_by().values_list("currency", flat=True).distinct()[:50])
    return sorted(found)


def dashboard_figures(f: Filters, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    return {
        "generated_at": now,
        "weekly": disputes_per_week(f),
        "win": win_rates(f),
        "amounts": dispute_amounts(f),
        "ratios": network_ratios(f, now=now),
        "refunds": refunds(f),
        "extensions": extensions(f),
        "handling": handling(f),
        "backlog": backlog(now=now, currency=f.currency),
        "receivables": receivables(f, now=now),
    }



# ---- the summary table (refreshed by the periodic task ``insight.refresh_dashboard``) ---------------

SUMMARY_DEFAULT_DAYS = 30
# A summary older than this is not shown: the page computes its figures instead (the task runs every
# 5 minutes; three missed runs mean the schedule is broken, and /healthz says so).
SUMMARY_MAX_AGE = timedelta(minutes=15)


def summary_key(f: Filters) -> str:
    return f"{f.since.isoformat()}:{f.until.isoformat()}:{f.currency or ''}:{getattr(f.tz, 'key', str(f.tz))}"


def default_filters(*, now: datetime, tz: Any = None) -> Filters:
    """The view /dashboard/ opens with: the last 30 local days up to today, every currency."""
    tz = tz or timezone.get_default_timezone()
    until = now.astimezone(tz).date()
    return Filters(since=until - timedelta(days=SUMMARY_DEFAULT_DAYS - 1), until=until, tz=tz)


def _to_json(value: Any) -> Any:
    """Figures → JSON: dates and instants as ISO strings; a monitoring program by its (network, month)."""
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items() if k != "program"}
    if isinstance(value, list | tuple):
        return [_to_json(v) for v in value]
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    return value


def _from_json(data: dict[str, Any]) -> dict[str, Any]:
    """Back to what ``dashboard_figures`` returns (the fields that are not plain JSON restored)."""
    fig = dict(data)
    fig["generated_at"] = datetime.fromisoformat(data["generated_at"])
    fig["weekly"] = [{**w, "week": date.fromisoformat(w["week"])} for w in data["weekly"]]
    ratios = []
    for row in data["ratios"]:
        month = date.fromisoformat(row["month"])
        ratios.append({**row, "month": month, "program": program_for(row["network"], month)})
    fig["ratios"] = ratios
    return fig


def summary_refresh(*, now: datetime | None = None) -> list[str]:
    """Compute the default view's figures (and the currency list) into ``DashboardSummary``."""
    import time as time_module

    from .models import DashboardSummary

    now = now or timezone.now()
    f = default_filters(now=now)
    started = time_module.monotonic()
    figures = dashboard_figures(f, now=now)
    figures["currencies"] = currencies()
    elapsed = time_module.monotonic() - started
    key = summary_key(f)
    DashboardSummary.objects.update_or_create(key=key, defaults={
        "figures": _to_json(figures), "generated_at": now, "seconds": elapsed})
    DashboardSummary.objects.filter(generated_at__lt=now - SUMMARY_MAX_AGE).delete()
    return [key]


def summary_read(f: Filters, *, now: datetime | None = None) -> dict[str, Any] | None:
    """The figures of view ``f`` from the summary table, if a fresh one exists (else None)."""
    from .models import DashboardSummary

    now = now or timezone.now()
    row = (DashboardSummary.objects.filter(key=summary_key(f), generated_at__gte=now - SUMMARY_MAX_AGE)
           .values_list("figures", flat=True).first())
    return _from_json(row) if row is not None else None
