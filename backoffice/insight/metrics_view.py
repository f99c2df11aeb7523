"""GET /metrics: Prometheus text format — django-prometheus's request and database metrics of this
process (or of every process with ``PROMETHEUS_MULTIPROC_DIR``) plus the business metrics.

Protected: with ``METRICS_TOKEN`` set, a request must send ``Authorization: Bearer <token>``;
with ``METRICS_ALLOWED_NETWORKS`` set, the client address must be in one of them; with neither,
only loopback clients are answered. Refusals are 403 with no body worth scraping.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from .registry import BusinessCollector

logger = logging.getLogger("backoffice.insight")
_business = CollectorRegistry(auto_describe=False)
_business.register(BusinessCollector())


def _networks(raw: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    parsed = []
    for item in raw:
        try:
            parsed.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            logger.error("metrics_network_invalid value=%r (METRICS_ALLOWED_NETWORKS)", item)
    return parsed


def _client_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    networks = settings.METRICS_ALLOWED_NETWORKS
    if token:
        sent = request.META.get("HTTP_AUTHORIZATION", "")
        if not (sent.startswith("Bearer ") and hmac.compare_digest(sent[7:].strip().encode(), token.encode())):
            return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if networks:
        return any(address in network for network in _networks(networks))
    return bool(token) or address.is_loopback


def _process_metrics() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not _client_allowed(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    body = _process_metrics() + generate_latest(_business)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
