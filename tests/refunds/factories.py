"""Refund factories and helpers.

``request_refund(...)`` files a refund the way users do (``refund_request``); ``RefundFactory``
inserts a row in any state for read-side tests (selectors, queues). Disputes are made lazily
through the app registry (``make_dispute``), so these helpers work while the disputes app is absent;
``needs_disputes`` skips a test with a visible reason when it is.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import factory
import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from factory.django import DjangoModelFactory

from backoffice.cases.services import case_assign_reference, case_journal_created
from refunds.models import Refund
from refunds.services import refund_request
from tests.invoices.factories import PaymentFactory

_dispute_ids = itertools.count(1)


def dispute_model():
    try:
        return apps.get_model("disputes", "Dispute")
    except LookupError:
        return None


needs_disputes = pytest.mark.skipif(dispute_model() is None, reason="needs the disputes app (Dispute model)")


def make_dispute(*, payment, state: str = "needs_response", amount_minor: int | None = None,
                 currency: str | None = None):
    """A dispute on ``payment`` in ``state`` (inserted directly: it stands for the PSP's report)."""
    Dispute = dispute_model()
    ReasonCode = apps.get_model("disputes", "ReasonCode")
    code, _ = ReasonCode.objects.get_or_create(
        network="visa", code="13.1",
        defaults={"category": "consumer_dispute", "title": "Merchandise / services not received",
                  "response_days": 20, "required_evidence": []},
    )
    due = timezone.now() + timedelta(days=10)
    return Dispute.objects.create(
        payment=payment, amount_minor=amount_minor or payment.amount_minor, currency=currency or payment.currency,
        network=payment.network or "other", reason_code=code, psp="stripe",
        psp_dispute_id=f"dp_refunds_{next(_dispute_ids):08d}_{payment.pk}", state=state,
        stage="inquiry" if state in ("inquiry", "closed") else "chargeback", due_at=due,
        internal_due_at=due - timedelta(hours=48),
    )


def set_dispute_state(dispute, state: str) -> None:
    """Resolve a dispute as the disputes workflow would (won, lost, accepted …), for refund-side tests."""
    type(dispute).objects.filter(pk=dispute.pk).update(state=state)


def request_refund(*, requester, payment=None, amount_minor: int = 2500, reason: str = "billing_error",
                   note: str = "Charged twice for March.", confirm_duplicate: bool = False,
                   **payment_fields) -> Refund:
    """A refund requested through the service (journaled), on ``payment`` or a fresh 100.00 USD one."""
    payment = payment or PaymentFactory(**payment_fields)
    return refund_request(payment=payment, requester=requester, amount_minor=amount_minor, reason=reason, note=note,
                          confirm_duplicate=confirm_duplicate)


class RefundFactory(DjangoModelFactory):
    """A refund row in any state (``RefundFactory(state="failed")``), with its reference and create journal row."""

    class Meta:
        model = Refund

    payment = factory.SubFactory(PaymentFactory)
    amount_minor = 2500
    currency = factory.LazyAttribute(lambda o: o.payment.currency)
    reason = "billing_error"
    note = ""
    requester = factory.LazyFunction(lambda: _default_requester())
    assignee = factory.LazyAttribute(lambda o: o.requester)
    state = "pending_approval"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        with transaction.atomic():
            refund = super()._create(model_class, *args, **kwargs)
            case_assign_reference(case=refund)
            case_journal_created(case=refund, actor=refund.requester)
        return refund


def _default_requester():
    from django.contrib.auth import get_user_model

    user, created = get_user_model().objects.get_or_create(username="factory-specialist")
    if created:
        user.groups.add(Group.objects.get(name="billing_specialist"))
    return user


def make_users(prefix: str, group: str, count: int) -> list:
    from django.contrib.auth import get_user_model

    User = get_user_model()
    users = []
    role = Group.objects.get(name=group)
    for i in range(count):
        user = User.objects.create_user(username=f"{prefix}{i}", password="pw")
        user.groups.add(role)
        users.append(user)
    return users
