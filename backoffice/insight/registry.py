"""Business metrics for /metrics: a small registry any app adds to.

An app puts a ``telemetry.py`` module next to its models (found by ``autodiscover``) and declares
each metric with ``business_metric``; the decorated function returns ``(label values, value)``
pairs, read from the database at scrape time, so every web process reports the same numbers::

    from backoffice.insight.registry import business_metric

    @business_metric("backoffice_webhook_deliveries", "Webhook deliveries by PSP and verdict.",
                     kind="counter", labels=("psp", "verdict"))
    def webhook_deliveries():
        return [((psp, verdict), n) for psp, verdict, n in ...]

A counter is exported with the ``_total`` suffix (``backoffice_webhook_deliveries_total``); its
value must never go down (count rows that are never deleted). Metric names start with
``backoffice_``. A collector that raises is reported in ``backoffice_metric_errors`` and skipped,
so one broken app never empties the page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from django.db import DatabaseError
from django.utils.module_loading import autodiscover_modules
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger("backoffice.insight")

Samples = Iterable[tuple[Sequence[str], float]]


@dataclass(frozen=True)
class BusinessMetric:
    name: str
    documentation: str
    kind: str  # "gauge" or "counter"
    labels: tuple[str, ...]
    collect: Callable[[], Samples]


_METRICS: dict[str, BusinessMetric] = {}


def business_metric(name: str, documentation: str, *, kind: str = "gauge",
                    labels: Sequence[str] = ()) -> Callable[[Callable[[], Samples]], Callable[[], Samples]]:
    if kind not in {"gauge", "counter"}:
        raise ValueError("kind is 'gauge' or 'counter'")
    if not name.startswith("backoffice_") or name.endswith("_total"):
        raise ValueError("business metric names start with 'backoffice_' and do not end with '_total'")

    def register(fn: Callable[[], Samples]) -> Callable[[], Samples]:
        _METRICS[name] = BusinessMetric(name, documentation, kind, tuple(labels), fn)
        return fn

    return register


def registered_metrics() -> list[BusinessMetric]:
    return sorted(_METRICS.values(), key=lambda m: m.name)


def exported_names() -> set[str]:
    """Every sample name /metrics exposes for the business metrics (counters with ``_total``)."""
    names = {m.name + "_total" if m.kind == "counter" else m.name for m in registered_metrics()}
    return names | {"backoffice_metric_errors", "backoffice_metrics_scrape_seconds"}


def autodiscover() -> None:
    autodiscover_modules("telemetry")


class BusinessCollector(Collector):
    """Reads every registered metric at scrape time."""

    def collect(self):
        started = time.monotonic()
        errors = GaugeMetricFamily("backoffice_metric_errors", "Business metrics that failed in this scrape.",
                                   labels=["metric"])
        for metric in registered_metrics():
            family_cls = CounterMetricFamily if metric.kind == "counter" else GaugeMetricFamily
            family = family_cls(metric.name, metric.documentation, labels=list(metric.labels))
            try:
                for label_values, value in metric.collect():
                    family.add_metric([str(v) for v in label_values], float(value))
            except DatabaseError:
                logger.exception("business_metric_failed metric=%s", metric.name)
                errors.add_metric([metric.name], 1)
                continue
            yield family
        yield errors
        scrape = GaugeMetricFamily("backoffice_metrics_scrape_seconds", "Time spent reading the business metrics.")
        scrape.add_metric([], time.monotonic() - started)
        yield scrape
