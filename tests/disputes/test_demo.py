"""Demo disputes: every state, stage, network and category; real journal chains; idempotent and fast."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from backoffice.cases.management.commands.seed_demo import seed_users
from backoffice.journal.models import JournalEntry
from disputes import demo
from disputes.models import Dispute, DisputeStage, DisputeState, EvidenceItem, Network, ReasonCategory
from invoices import demo as ledger_demo


@pytest.mark.django_db
def test_the_demo_covers_every_state_stage_network_and_category_and_verifies(capsys):
    seed_users()
    ledger_demo.seed(rng=random.Random(1))
    demo.seed(rng=random.Random(2))

    disputes = Dispute.objects.all()
    assert 140 <= disputes.count() <= 160
    assert set(disputes.values_list("state", flat=True)) == set(DisputeState.values)
    assert set(disputes.values_list("stage", flat=True)) == set(DisputeStage.values)
    assert set(disputes.values_list("network", flat=True)) == set(Network.values)
    assert set(disputes.values_list("reason_code__category", flat=True)) == set(ReasonCategory.values)
    now = timezone.now()
    waiting = disputes.filter(state="needs_response")
    assert waiting.filter(internal_due_at__lt=now).exists()
    assert waiting.filter(internal_due_at__gte=now, internal_due_at__lt=now + timedelta(days=3)).exists()
    assert EvidenceItem.objects.count() > 100 and EvidenceItem.objects.exclude(file="").exists()
    assert disputes.filter(assignee__isnull=True, state__in=["inquiry", "needs_response"]).exists()
    # Every dispute's chain starts with "create" and ends in its current state.
    for dispute in disputes:
        rows = list(JournalEntry.objects.filter(case_type="dispute", case_id=dispute.pk).order_by("seq"))
        assert rows[0].transition == "create" and rows[-1].target_state == dispute.state, dispute.reference
    call_command("verify_journal")
    assert "Journal intact" in capsys.readouterr().out

    counts = (Dispute.objects.count(), EvidenceItem.objects.count(), JournalEntry.objects.count())
    demo.seed(rng=random.Random(99))
    assert (Dispute.objects.count(), EvidenceItem.objects.count(), JournalEntry.objects.count()) == counts
    assert dict(disputes.values_list("state").annotate(n=Count("id")))["needs_response"] >= 40
