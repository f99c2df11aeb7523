"""The demo extensions: every state, flagged repeat customers, real journal chains, idempotent."""

from __future__ import annotations

import random

import pytest
from django.core.management import call_command
from django.db.models import Count

from backoffice.cases.management.commands.seed_demo import seed_users
from backoffice.journal.models import JournalEntry
from invoices.demo import seed_ledger
from invoices.demo_extensions import seed_extensions
from invoices.models import ExtensionState, Invoice, PaymentExtension

pytestmark = pytest.mark.django_db


def test_demo_extensions_cover_every_state_and_are_seeded_once(capsys):
    seed_users()
    seed_ledger(rng=random.Random(20261122))

    created = seed_extensions(rng=random.Random(20261125))

    assert 35 <= created <= 45
    states = dict(PaymentExtension.objects.values_list("state").annotate(n=Count("id")))
    assert set(states) == set(ExtensionState.values) and min(states.values()) >= 2
    assert PaymentExtension.objects.filter(customer_broke_promise_recently=True, state="requested").count() >= 2
    for extension in PaymentExtension.objects.filter(state="approved").select_related("invoice"):
        assert extension.invoice.due_at == extension.deadline and extension.invoice.dunning_paused
    for extension in PaymentExtension.objects.filter(state="broken").select_related("invoice"):
        assert extension.invoice.status == "overdue" and not extension.invoice.dunning_paused
    assert not Invoice.objects.filter(status="paid", extensions__state="broken").exists()
    chains = {state: [list(JournalEntry.objects.filter(case_type="extension", case_id=pk).order_by("seq")
                           .values_list("transition", flat=True))
                      for pk in PaymentExtension.objects.filter(state=state).values_list("pk", flat=True)]
              for state in ("broken", "fulfilled", "rejected")}
    assert all(chain == ["create", "approve", "mark_broken"] for chain in chains["broken"])
    assert all(chain == ["create", "approve", "fulfil"] for chain in chains["fulfilled"])
    assert all(chain == ["create", "reject"] for chain in chains["rejected"])
    call_command("verify_journal")
    assert "Journal intact" in capsys.readouterr().out

    assert seed_extensions(rng=random.Random(1)) == 0
    assert PaymentExtension.objects.count() == created
