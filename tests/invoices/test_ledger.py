"""The ledger service: finding a payment (scoped where a user asks), locking one (bounded wait), its balance."""

import pytest
from django.db import connection, transaction

from backoffice.errors import ConcurrentChange, NotFound
from invoices.ledger import payment_balance, payment_find, payment_lock
from invoices.models import Payment
from tests.money_checks import payment_held_elsewhere

from .factories import PaymentFactory


@pytest.mark.django_db
def test_payment_find_by_id_or_psp_reference_within_the_queryset_given():
    payment = PaymentFactory(psp_reference="ch_ledger_1")
    other = PaymentFactory(psp_reference="ch_ledger_2")

    assert payment_find(reference=str(payment.pk)) == payment
    assert payment_find(reference=" ch_ledger_1 ") == payment
    assert payment_find(reference="ch_ledger_2", queryset=Payment.objects.exclude(pk=other.pk)) is None
    assert payment_find(reference=str(other.pk), queryset=Payment.objects.filter(pk=payment.pk)) is None


@pytest.mark.django_db
@pytest.mark.parametrize("reference", ["", "   ", "²", "١٢", "9" * 30, "ch_\x00", "x" * 65])
def test_payment_find_answers_none_for_what_is_no_payment_reference(reference):
    PaymentFactory()
    assert payment_find(reference=reference) is None


@pytest.mark.django_db(transaction=True)
def test_payment_lock_needs_a_transaction_and_an_existing_payment():
    payment = PaymentFactory()
    with pytest.raises(RuntimeError):
        payment_lock(payment.pk)  # autocommit: the lock would end with the statement
    with transaction.atomic():
        assert payment_lock(payment.pk) == payment
        with pytest.raises(NotFound):
            payment_lock(10**12)


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_lock_timeout_applies_to_the_payment_lock_only():
    payment = PaymentFactory()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '7s'")
        payment_lock(payment.pk)
        with connection.cursor() as cursor:
            cursor.execute("SHOW lock_timeout")
            assert cursor.fetchone()[0] == "7s"  # the caller's own setting is back after the lock


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_payment_held_elsewhere_answers_concurrent_change_instead_of_waiting():
    payment = PaymentFactory()
    with payment_held_elsewhere(payment.pk):
        with pytest.raises(ConcurrentChange), transaction.atomic():
            payment_lock(payment.pk)
    with transaction.atomic():
        assert payment_lock(payment.pk) == payment  # released: the next writer gets it


@pytest.mark.django_db
def test_a_fresh_payment_has_everything_left_and_nothing_held():
    payment = PaymentFactory(amount_minor=12345, currency="EUR")
    balance = payment_balance(payment_id=payment.pk)
    assert (balance.captured_minor, balance.currency, balance.refunds_held_minor, balance.disputes_lost_minor) == \
        (12345, "EUR", 0, 0)
    assert balance.refundable_minor == 12345 and balance.within_captured and not balance.has_undecided_dispute
    with pytest.raises(NotFound):
        payment_balance(payment_id=10**12)
