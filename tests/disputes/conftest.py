"""Fixtures for the dispute tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from disputes.models import EvidenceItem
from disputes.services import evidence_add

from .factories import DisputeFactory, complete_kinds


def media_files() -> set[Path]:
    """Every file under MEDIA_ROOT (to prove a refused upload stored nothing)."""
    root = Path(settings.MEDIA_ROOT)
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def add_complete_evidence(dispute, actor) -> list[EvidenceItem]:
    """What a specialist does before submitting: one item per line of the reason code's checklist."""
    return [
        evidence_add(dispute_id=dispute.pk, actor=actor, kind=kind,
                     text=f"{kind}: customer ran 731.25 GPU-hours and logged in 38 times after the charge.")
        for kind in complete_kinds(dispute.reason_code)
    ]


@pytest.fixture
def dispute(db, specialist):
    """A Visa 13.1 dispute waiting for a response, due in 10 days, assigned to the specialist."""
    return DisputeFactory(assignee=specialist)


@pytest.fixture(autouse=True)
def _migration_data_for_transactional_tests(request):
    """Transactional tests (threads, the browser) run on a database flushed by earlier ones: put back
    what migrations seed (role groups, the reason-code catalogue) before the test's own fixtures run."""
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and marker.kwargs.get("transaction")) or bool(
        {"live_server", "transactional_db"} & set(request.fixturenames))
    if not transactional:
        return
    request.getfixturevalue("transactional_db")
    from django.contrib.auth.models import Group

    from backoffice.roles.models import Role
    from disputes.catalogue import catalogue_sync
    from disputes.models import ReasonCode

    for role in Role.values:
        Group.objects.get_or_create(name=role)
    catalogue_sync(ReasonCode)
