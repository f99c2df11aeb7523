"""Payment extension services: request, four-eyes approval within limits in days, the invoice's due
date and dunning, the kept/broken outcome at the UTC boundary, the journal."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from freezegun import freeze_time

from backoffice.actors import CELERY
from backoffice.errors import BusinessRuleViolation, InvalidInput, PermissionDenied, TransitionNotAllowed
from backoffice.journal.models import DeniedAttempt, JournalEntry
from backoffice.roles.models import ApprovalLimit
from invoices.models import Invoice, PaymentExtension, promise_deadline, utc_date
from invoices.selectors import customer_broke_promise_recently, invoice_paid_in_full_at
from invoices.services import (
    extension_approve,
    extension_cancel,
    extension_check_due,
    extension_decide_outcome,
    extension_fulfil,
    extension_mark_broken,
    extension_reject,
    extension_request,
)

from .factories import CustomerFactory, InvoiceFactory, PaymentFactory

pytestmark = pytest.mark.django_db

# A fixed calendar for the outcome tests: requested on 1 March, due 5 March, promised for 15 March.
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
DUE = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
PROMISED = date(2026, 3, 15)


def request(actor, *, invoice=None, days=10, reason="Customer waits for its budget approval"):
    invoice = invoice or InvoiceFactory()
    return extension_request(actor=actor, invoice=invoice, new_due_date=utc_date(invoice.due_at) + timedelta(days=days),
                             reason=reason)


def journal(extension):
    rows = JournalEntry.objects.filter(case_type="extension", case_id=extension.pk).order_by("seq")
    return [(r.transition, r.source_state, r.target_state, r.actor_label) for r in rows]


def invoice_snapshot(invoice_id):
    return Invoice.objects.filter(pk=invoice_id).values("due_at", "dunning_paused", "status", "paid_at").get()


@pytest.fixture
def approved(specialist, lead):
    """An extension requested on T0 for an invoice due on DUE, approved by a lead until PROMISED."""
    with freeze_time(T0):
        invoice = InvoiceFactory(issued_at=DUE - timedelta(days=30), due_at=DUE, amount_minor=10000)
        extension = extension_request(actor=specialist, invoice=invoice, new_due_date=PROMISED,
                                      reason="Customer's finance team is closing the quarter")
        extension_approve(extension_id=extension.pk, actor=lead, reason="Good payment history")
    return PaymentExtension.objects.get(pk=extension.pk)


# --- request ------------------------------------------------------------------------------------


def test_request_snapshots_the_invoice_and_journals_the_creation(specialist):
    invoice = InvoiceFactory()
    before = invoice_snapshot(invoice.pk)

    extension = request(specialist, invoice=invoice, days=10)

    assert extension.state == "requested" and extension.reference == f"EXT-{extension.pk:06d}"
    assert extension.original_due_at == invoice.due_at and extension.original_due_date == utc_date(invoice.due_at)
    assert extension.days_requested == 10
    assert extension.due_at == promise_deadline(extension.new_due_date)
    assert extension.due_at.time().isoformat() == "23:59:59.999999"
    assert extension.requester == specialist and not extension.customer_broke_promise_recently
    assert invoice_snapshot(invoice.pk) == before
    assert journal(extension) == [("create", "", "requested", "spec1")]


def test_an_auditor_cannot_request_and_nothing_is_saved(auditor):
    with pytest.raises(PermissionDenied):
        request(auditor)
    assert not PaymentExtension.objects.exists()
    assert DeniedAttempt.objects.filter(case_type="extension", action="request", code="permission_denied").exists()


@pytest.mark.parametrize("status", ["paid", "void", "draft"])
def test_only_open_or_overdue_invoices_qualify(specialist, status):
    fields = {"paid_at": datetime(2026, 1, 1, tzinfo=UTC)} if status == "paid" else {}
    invoice = InvoiceFactory(status=status, **fields)
    with pytest.raises(BusinessRuleViolation) as err:
        request(specialist, invoice=invoice)
    assert err.value.code == "invoice_not_eligible"
    assert not PaymentExtension.objects.exists()


def test_an_overdue_invoice_qualifies(specialist):
    invoice = InvoiceFactory(status="overdue", issued_at=datetime.now(UTC) - timedelta(days=40),
                             due_at=datetime.now(UTC) - timedelta(days=2))
    extension = request(specialist, invoice=invoice, days=7)
    assert extension.days_requested == 7


def test_an_invoice_paid_in_full_by_its_payments_does_not_qualify(specialist):
    payment = PaymentFactory(amount_minor=10000)
    with pytest.raises(BusinessRuleViolation) as err:
        request(specialist, invoice=payment.invoice)
    assert err.value.code == "invoice_not_eligible"


@pytest.mark.parametrize("days,code", [(0, "new_due_date_not_after_current"), (-3, "new_due_date_not_after_current"),
                                       (366, "extension_too_long")])
def test_the_new_due_date_must_be_after_the_current_one_and_within_a_year(specialist, days, code):
    with pytest.raises(InvalidInput) as err:
        request(specialist, days=days)
    assert err.value.code == code
    assert not PaymentExtension.objects.exists()


def test_the_new_due_date_cannot_be_in_the_past(specialist):
    invoice = InvoiceFactory(status="overdue", issued_at=datetime.now(UTC) - timedelta(days=60),
                             due_at=datetime.now(UTC) - timedelta(days=20))
    with pytest.raises(InvalidInput) as err:
        request(specialist, invoice=invoice, days=5)
    assert err.value.code == "new_due_date_in_past"


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_request_needs_a_reason(specialist, reason):
    with pytest.raises(InvalidInput) as err:
        request(specialist, reason=reason)
    assert err.value.code == "reason_required"


def test_a_second_open_extension_for_the_same_invoice_is_refused(specialist, specialist2, lead):
    first = request(specialist, days=5)
    with pytest.raises(BusinessRuleViolation) as err:
        request(specialist2, invoice=first.invoice, days=6)
    assert err.value.code == "extension_already_open" and first.reference in err.value.message

    extension_approve(extension_id=first.pk, actor=lead, reason="ok")
    with pytest.raises(BusinessRuleViolation) as err:
        request(specialist2, invoice=Invoice.objects.get(pk=first.invoice_id), days=20)
    assert err.value.code == "extension_already_open"
    assert PaymentExtension.objects.filter(invoice=first.invoice).count() == 1


def test_a_closed_extension_makes_room_for_a_new_one(specialist, specialist2):
    first = request(specialist, days=5)
    extension_reject(extension_id=first.pk, actor=specialist2, reason="Customer did not confirm")
    second = request(specialist, invoice=first.invoice, days=5)
    assert second.state == "requested" and second.pk != first.pk


def test_the_database_refuses_two_open_extensions_for_one_invoice(specialist):
    first = request(specialist, days=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentExtension.objects.create(invoice=first.invoice, new_due_date=first.new_due_date,
                                        original_due_at=first.original_due_at, days_requested=5, reason="twin",
                                        requester=specialist)


def test_a_request_that_loses_the_race_on_the_constraint_gets_extension_already_open(specialist, specialist2):
    """The check before the insert saw nothing (a concurrent request committed in between): the
    unique constraint refuses the insert and the service answers with the same clear error."""
    first = request(specialist, days=5)
    with mock.patch("invoices.services.invoice_open_extension", return_value=None):
        with pytest.raises(BusinessRuleViolation) as err:
            request(specialist2, invoice=first.invoice, days=8)
    assert err.value.code == "extension_already_open"
    assert PaymentExtension.objects.filter(invoice=first.invoice).count() == 1


def test_a_customer_who_broke_a_promise_in_the_last_year_is_flagged(specialist, approved):
    extension_mark_broken(extension_id=approved.pk, now=promise_deadline(PROMISED) + timedelta(minutes=1))
    customer = approved.invoice.customer
    with freeze_time(datetime(2026, 4, 1, tzinfo=UTC)):
        assert customer_broke_promise_recently(customer_id=customer.pk)
        flagged = request(specialist, invoice=InvoiceFactory(customer=customer))
        other = request(specialist, invoice=InvoiceFactory(customer=CustomerFactory()))

    assert flagged.customer_broke_promise_recently and not other.customer_broke_promise_recently


def test_a_broken_promise_older_than_twelve_months_is_not_flagged(specialist, approved):
    extension_mark_broken(extension_id=approved.pk, now=promise_deadline(PROMISED) + timedelta(minutes=1))
    with freeze_time(promise_deadline(PROMISED) + timedelta(days=366)):
        extension = request(specialist, invoice=InvoiceFactory(customer=approved.invoice.customer))
    assert not extension.customer_broke_promise_recently


# --- approve, reject, cancel --------------------------------------------------------------------


def test_nobody_approves_their_own_request_not_even_a_superuser(specialist, superuser_lead):
    own = request(specialist, days=3)
    with pytest.raises(PermissionDenied) as err:
        extension_approve(extension_id=own.pk, actor=specialist, reason="mine")
    assert err.value.code == "self_approval_forbidden"

    root_own = request(superuser_lead, days=3)
    with pytest.raises(PermissionDenied) as err:
        extension_approve(extension_id=root_own.pk, actor=superuser_lead, reason="I am root")
    assert err.value.code == "self_approval_forbidden"
    assert PaymentExtension.objects.filter(state="requested").count() == 2
    assert DeniedAttempt.objects.filter(case_id=own.pk, code="self_approval_forbidden").count() == 1


def test_another_specialist_approves_ten_days_and_the_invoice_moves(specialist, specialist2):
    invoice = InvoiceFactory(status="overdue", issued_at=datetime.now(UTC) - timedelta(days=40),
                             due_at=datetime.now(UTC) - timedelta(hours=1))
    extension = request(specialist, invoice=invoice, days=10)

    extension_approve(extension_id=extension.pk, actor=specialist2, reason="First request, good history")

    extension.refresh_from_db()
    invoice.refresh_from_db()
    assert extension.state == "approved"
    assert (extension.decided_by, extension.decision_reason) == (specialist2, "First request, good history")
    assert extension.decided_at is not None and extension.closed_at is None
    assert invoice.due_at == promise_deadline(extension.new_due_date)
    assert invoice.dunning_paused and invoice.status == "open"
    row = JournalEntry.objects.get(case_type="extension", case_id=extension.pk, transition="approve")
    assert row.reason == "First request, good history" and row.actor_label == "spec2"
    assert row.context["days_requested"] == 10 and row.context["limit_days"] == 14
    assert row.context["invoice_status_before"] == "overdue"


def test_a_specialist_cannot_approve_thirty_days_but_a_team_lead_can(specialist, specialist2, lead):
    extension = request(specialist, days=30)
    before = invoice_snapshot(extension.invoice_id)

    with pytest.raises(PermissionDenied) as err:
        extension_approve(extension_id=extension.pk, actor=specialist2, reason="ok")
    assert err.value.code == "approval_limit_exceeded"
    assert err.value.extra == {"days_requested": 30, "limit_days": 14}
    assert PaymentExtension.objects.get(pk=extension.pk).state == "requested"
    assert invoice_snapshot(extension.invoice_id) == before

    extension_approve(extension_id=extension.pk, actor=lead, reason="Large customer, confirmed by phone")
    assert PaymentExtension.objects.get(pk=extension.pk).state == "approved"
    assert Invoice.objects.get(pk=extension.invoice_id).due_at == promise_deadline(extension.new_due_date)


def test_limits_come_from_the_database(specialist, specialist2):
    extension = request(specialist, days=20)
    ApprovalLimit.objects.filter(role="billing_specialist", action="extension_approve").update(limit=21)
    extension_approve(extension_id=extension.pk, actor=specialist2, reason="limit raised")
    assert PaymentExtension.objects.get(pk=extension.pk).state == "approved"


def test_no_limit_configured_means_refused(specialist, specialist2):
    extension = request(specialist, days=2)
    ApprovalLimit.objects.filter(role="billing_specialist", action="extension_approve").delete()
    with pytest.raises(PermissionDenied) as err:
        extension_approve(extension_id=extension.pk, actor=specialist2, reason="ok")
    assert err.value.code == "approval_limit_missing"


@pytest.mark.parametrize("decide", [extension_approve, extension_reject, extension_cancel])
def test_every_decision_takes_a_reason(specialist, lead, decide):
    extension = request(specialist, days=5)
    with pytest.raises(InvalidInput) as err:
        decide(extension_id=extension.pk, actor=lead, reason="  ")
    assert err.value.code == "reason_required"
    assert PaymentExtension.objects.get(pk=extension.pk).state == "requested"


def test_rejection_leaves_the_invoice_as_it_was(specialist, specialist2):
    extension = request(specialist, days=5)
    before = invoice_snapshot(extension.invoice_id)

    with pytest.raises(PermissionDenied) as err:
        extension_reject(extension_id=extension.pk, actor=specialist, reason="changed my mind")
    assert err.value.code == "self_approval_forbidden"
    extension_reject(extension_id=extension.pk, actor=specialist2, reason="Customer missed two promises before")

    extension.refresh_from_db()
    assert extension.state == "rejected" and extension.decided_by == specialist2 and extension.closed_at
    assert invoice_snapshot(extension.invoice_id) == before


def test_cancellation_by_the_requester_or_a_team_lead_leaves_the_invoice_as_it_was(specialist, specialist2, lead):
    mine = request(specialist, days=5)
    before = invoice_snapshot(mine.invoice_id)
    with pytest.raises(PermissionDenied):
        extension_cancel(extension_id=mine.pk, actor=specialist2, reason="not yours")
    extension_cancel(extension_id=mine.pk, actor=specialist, reason="Customer paid by wire instead")
    assert PaymentExtension.objects.get(pk=mine.pk).state == "cancelled"
    assert invoice_snapshot(mine.invoice_id) == before

    other = request(specialist2, days=5)
    extension_cancel(extension_id=other.pk, actor=lead, reason="Duplicate of a phone request")
    assert PaymentExtension.objects.get(pk=other.pk).state == "cancelled"


def test_an_approved_extension_cannot_be_cancelled_or_decided_again(approved, specialist, lead2):
    with pytest.raises(TransitionNotAllowed):
        extension_cancel(extension_id=approved.pk, actor=lead2, reason="too late")
    with pytest.raises(TransitionNotAllowed):
        extension_approve(extension_id=approved.pk, actor=lead2, reason="again")


@pytest.mark.parametrize("decide", [extension_approve, extension_reject, extension_cancel])
def test_an_auditor_decides_nothing(specialist, auditor, decide):
    extension = request(specialist, days=5)
    with pytest.raises(PermissionDenied) as err:
        decide(extension_id=extension.pk, actor=auditor, reason="audit")
    assert err.value.code == "permission_denied"
    assert PaymentExtension.objects.get(pk=extension.pk).state == "requested"


@pytest.mark.parametrize("decide", [extension_fulfil, extension_mark_broken])
def test_people_cannot_take_the_system_transitions(approved, lead, decide):
    with pytest.raises(PermissionDenied):
        decide(extension_id=approved.pk, actor=lead)
    assert PaymentExtension.objects.get(pk=approved.pk).state == "approved"


# --- outcome: kept or broken, at the UTC boundary -----------------------------------------------


@pytest.mark.parametrize("paid_at,outcome", [
    (datetime(2026, 3, 15, 23, 59, tzinfo=UTC), "fulfilled"),
    (datetime(2026, 3, 15, 23, 59, 59, 999999, tzinfo=UTC), "fulfilled"),
    (datetime(2026, 3, 16, 0, 0, tzinfo=UTC), "broken"),
    (datetime(2026, 3, 16, 0, 1, tzinfo=UTC), "broken"),
])
def test_the_outcome_is_decided_at_the_end_of_the_new_due_date_in_utc(approved, paid_at, outcome):
    PaymentFactory(invoice=approved.invoice, amount_minor=10000, captured_at=paid_at)

    counts = extension_check_due(now=datetime(2026, 3, 16, 0, 15, tzinfo=UTC))

    approved.refresh_from_db()
    assert approved.state == outcome
    assert counts == {"checked": 1, "fulfilled": outcome == "fulfilled", "broken": outcome == "broken",
                      "pending": 0, "skipped": 0}
    invoice = Invoice.objects.get(pk=approved.invoice_id)
    assert not invoice.dunning_paused
    assert journal(approved)[-1] == ({"fulfilled": "fulfil", "broken": "mark_broken"}[outcome], "approved", outcome,
                                     "system:celery")


def test_paid_in_two_parts_counts_from_the_capture_that_completes_it(approved):
    PaymentFactory(invoice=approved.invoice, amount_minor=4000, captured_at=datetime(2026, 3, 10, tzinfo=UTC))
    PaymentFactory(invoice=approved.invoice, amount_minor=6000,
                   captured_at=datetime(2026, 3, 15, 23, 59, tzinfo=UTC))
    assert invoice_paid_in_full_at(invoice=approved.invoice) == datetime(2026, 3, 15, 23, 59, tzinfo=UTC)
    assert extension_decide_outcome(extension_id=approved.pk, now=datetime(2026, 3, 17, tzinfo=UTC)) == "fulfilled"


def test_a_partial_payment_does_not_keep_the_promise(approved):
    PaymentFactory(invoice=approved.invoice, amount_minor=9999, captured_at=datetime(2026, 3, 12, tzinfo=UTC))
    assert extension_decide_outcome(extension_id=approved.pk, now=datetime(2026, 3, 16, 0, 1, tzinfo=UTC)) == "broken"


def test_a_broken_promise_resumes_dunning_and_marks_the_unpaid_invoice_overdue(approved):
    invoice = Invoice.objects.get(pk=approved.invoice_id)
    assert invoice.dunning_paused and invoice.status == "open"

    extension_check_due(now=datetime(2026, 3, 16, 0, 1, tzinfo=UTC))

    invoice.refresh_from_db()
    assert PaymentExtension.objects.get(pk=approved.pk).state == "broken"
    assert not invoice.dunning_paused and invoice.status == "overdue"
    assert invoice.due_at == promise_deadline(PROMISED)
    row = JournalEntry.objects.get(case_type="extension", case_id=approved.pk, transition="mark_broken")
    assert row.context["invoice_status_after"] == "overdue" and row.actor_label == "system:celery"


def test_nothing_is_decided_before_the_deadline_unless_paid(approved):
    assert extension_check_due(now=datetime(2026, 3, 15, 23, 59, 59, tzinfo=UTC))["checked"] == 0
    with pytest.raises(BusinessRuleViolation) as err:
        extension_mark_broken(extension_id=approved.pk, now=datetime(2026, 3, 15, 23, 59, 59, 999999, tzinfo=UTC))
    assert err.value.code == "promise_not_due"
    with pytest.raises(BusinessRuleViolation) as err:
        extension_fulfil(extension_id=approved.pk, now=datetime(2026, 3, 15, 12, tzinfo=UTC))
    assert err.value.code == "promise_not_kept"
    assert PaymentExtension.objects.get(pk=approved.pk).state == "approved"


def test_a_promise_kept_early_is_fulfilled_once_the_ledger_shows_the_invoice_paid(approved):
    paid_at = datetime(2026, 3, 8, 9, 30, tzinfo=UTC)
    PaymentFactory(invoice=approved.invoice, amount_minor=10000, captured_at=paid_at)
    Invoice.objects.filter(pk=approved.invoice_id).update(status="paid", paid_at=paid_at)

    counts = extension_check_due(now=datetime(2026, 3, 8, 10, tzinfo=UTC))

    assert counts["fulfilled"] == 1
    assert PaymentExtension.objects.get(pk=approved.pk).state == "fulfilled"


def test_a_kept_promise_cannot_be_marked_broken(approved):
    PaymentFactory(invoice=approved.invoice, amount_minor=10000, captured_at=datetime(2026, 3, 14, tzinfo=UTC))
    with pytest.raises(BusinessRuleViolation) as err:
        extension_mark_broken(extension_id=approved.pk, actor=CELERY, now=datetime(2026, 3, 20, tzinfo=UTC))
    assert err.value.code == "promise_kept"


def test_checking_twice_changes_nothing_the_second_time(approved):
    first = extension_check_due(now=datetime(2026, 3, 16, 0, 1, tzinfo=UTC))
    second = extension_check_due(now=datetime(2026, 3, 16, 0, 16, tzinfo=UTC))
    assert first["broken"] == 1 and second["checked"] == 0
    assert [t for t, *_ in journal(approved)] == ["create", "approve", "mark_broken"]
    assert extension_decide_outcome(extension_id=approved.pk) == "skipped"


# --- the journal --------------------------------------------------------------------------------


def test_every_transition_is_journaled_once_and_the_chains_verify(specialist, specialist2, lead, capsys):
    rejected = request(specialist, days=3)
    extension_reject(extension_id=rejected.pk, actor=lead, reason="no")
    cancelled = request(specialist, days=3)
    extension_cancel(extension_id=cancelled.pk, actor=specialist, reason="withdrawn")
    with freeze_time(T0):
        kept = request(specialist, invoice=InvoiceFactory(issued_at=DUE - timedelta(days=30), due_at=DUE), days=10)
        extension_approve(extension_id=kept.pk, actor=specialist2, reason="ok")
    PaymentFactory(invoice=kept.invoice, amount_minor=10000, captured_at=datetime(2026, 3, 15, 20, tzinfo=UTC))
    extension_check_due(now=datetime(2026, 3, 16, 1, tzinfo=UTC))

    assert [t for t, *_ in journal(rejected)] == ["create", "reject"]
    assert [t for t, *_ in journal(cancelled)] == ["create", "cancel"]
    assert journal(kept) == [("create", "", "requested", "spec1"), ("approve", "requested", "approved", "spec2"),
                             ("fulfil", "approved", "fulfilled", "system:celery")]
    call_command("verify_journal")
    assert "Journal intact" in capsys.readouterr().out
