"""Roles from the migration, approval limits from the database, fail closed, changes journaled."""

import pytest
from django.contrib.auth.models import Group

from backoffice.errors import PermissionDenied
from backoffice.journal.models import JournalEntry
from backoffice.roles.models import ApprovalLimit
from backoffice.roles.predicates import is_requester, not_own_request
from backoffice.roles.services import approval_limit_for, approval_limit_set, dual_approval_threshold_for


@pytest.mark.django_db
def test_the_three_groups_exist_after_migrations():
    assert set(Group.objects.values_list("name", flat=True)) >= {"billing_specialist", "team_lead", "finance_auditor"}


@pytest.mark.django_db
@pytest.mark.parametrize("currency", ["USD", "EUR", "GBP", "KZT", "AZN", "UZS"])
def test_default_limits_exist_for_every_demo_currency(currency, specialist, lead, auditor):
    assert approval_limit_for(user=specialist, action="refund_approve", currency=currency) == 0
    assert approval_limit_for(user=lead, action="refund_approve", currency=currency) > 0
    assert approval_limit_for(user=auditor, action="refund_approve", currency=currency) is None
    assert dual_approval_threshold_for(currency=currency) > 0


@pytest.mark.django_db
def test_extension_day_limits(specialist, lead, auditor):
    assert approval_limit_for(user=specialist, action="extension_approve") == 14
    assert approval_limit_for(user=lead, action="extension_approve") == 90
    assert approval_limit_for(user=auditor, action="extension_approve") is None


@pytest.mark.django_db
def test_no_limit_for_a_currency_means_refused(lead):
    assert approval_limit_for(user=lead, action="refund_approve", currency="JPY") is None


@pytest.mark.django_db
def test_limit_changes_need_a_superuser_and_are_journaled(lead, superuser_lead):
    with pytest.raises(PermissionDenied):
        approval_limit_set(actor=lead, role="team_lead", action="refund_approve", currency="USD", limit=1)

    approval_limit_set(actor=superuser_lead, role="team_lead", action="refund_approve", currency="usd", limit=700_000)

    assert approval_limit_for(user=lead, action="refund_approve", currency="USD") == 700_000
    row = JournalEntry.objects.get(case_type="approval_limit")
    assert (row.transition, row.source_state, row.target_state, row.actor_label) == (
        "set_limit", "500000", "700000", "root1")
    assert ApprovalLimit.objects.filter(role="team_lead", action="refund_approve", currency="USD").count() == 1


@pytest.mark.django_db
def test_requester_predicate(specialist, specialist2):
    class Request:
        requester_id = specialist.pk

    assert is_requester(specialist, Request())
    assert not not_own_request(specialist, Request())
    assert not_own_request(specialist2, Request())
