"""The credit note: number, customer, invoice, payment, amount in figures (the currency's format) and words."""

import io

import pytest
from pypdf import PdfReader

from backoffice.errors import BusinessRuleViolation
from backoffice.roles.services import approval_limit_set, dual_threshold_set
from refunds.credit_note import amount_in_words, credit_note_number, credit_note_pdf, number_to_words
from refunds.models import Refund
from refunds.services import refund_approve
from tests.invoices.factories import PaymentFactory

from .factories import RefundFactory, request_refund


def pdf_text(data: bytes) -> str:
    return " ".join((page.extract_text() or "") for page in PdfReader(io.BytesIO(data)).pages)


@pytest.mark.parametrize(("n", "words"), [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (20, "twenty"), (42, "forty-two"), (100, "one hundred"),
    (101, "one hundred one"), (1234, "one thousand two hundred thirty-four"),
    (1_000_000, "one million"), (2_005_019, "two million five thousand nineteen"),
    (987_654_321_012, "nine hundred eighty-seven billion six hundred fifty-four million three hundred "
                      "twenty-one thousand twelve"),
])
def test_numbers_in_english_words(n, words):
    assert number_to_words(n) == words


@pytest.mark.parametrize(("minor", "currency", "words"), [
    (123450, "USD", "one thousand two hundred thirty-four US dollars and 50 cents"),
    (101, "USD", "one US dollar and 1 cent"),
    (100, "EUR", "one euro"),
    (1235, "JPY", "one thousand two hundred thirty-five Japanese yen"),
    (250, "GBP", "two British pounds and 50 pence"),
    (1500, "KWD", "one Kuwaiti dinar and 500/1000"),
    (4_500_000, "KZT", "forty-five thousand Kazakhstani tenges"),
])
def test_amounts_in_words_use_babels_currency_names(minor, currency, words):
    assert amount_in_words(minor, currency) == words


@pytest.fixture
def jpy_limits(db, django_user_model):
    root = django_user_model.objects.create_superuser("limits-admin", password="pw")
    approval_limit_set(actor=root, role="team_lead", action="refund_approve", currency="JPY", limit=1_000_000)
    dual_threshold_set(actor=root, currency="JPY", threshold_minor=200_000)


@pytest.mark.django_db
def test_the_credit_note_of_a_succeeded_usd_refund(specialist, lead, lead2, commit):
    payment = PaymentFactory(amount_minor=200000, invoice__number="INV-2026-CN0001",
                             invoice__customer__name="Helios GPU Cloud")
    refund = request_refund(requester=specialist, payment=payment, amount_minor=123450, reason="service_outage")
    with commit():
        refund_approve(refund=refund, actor=lead, reason="ok")
        refund_approve(refund=Refund.objects.get(pk=refund.pk), actor=lead2, reason="ok")
    refund = Refund.objects.get(pk=refund.pk)
    assert refund.state == "succeeded"

    text = pdf_text(credit_note_pdf(refund=refund))

    number = credit_note_number(refund=refund)
    assert number == f"CN-{refund.succeeded_at.year}-{refund.pk:06d}"
    for expected in (number, refund.reference, "$1,234.50", "Helios GPU Cloud", "INV-2026-CN0001",
                     payment.psp_reference, "Service outage", refund.psp_refund_id):
        assert expected in text, expected
    assert "one thousand two hundred thirty-four US dollars and 50 cents" in " ".join(text.split())


@pytest.mark.django_db
def test_a_jpy_credit_note_shows_yen_without_decimals(specialist, lead, commit, jpy_limits):
    payment = PaymentFactory(currency="JPY", amount_minor=50000)
    refund = request_refund(requester=specialist, payment=payment, amount_minor=1235, reason="goodwill")
    with commit():
        refund_approve(refund=refund, actor=lead, reason="ok")
    refund = Refund.objects.get(pk=refund.pk)

    text = pdf_text(credit_note_pdf(refund=refund))

    assert refund.reference in text
    assert "¥1,235" in text and "1,235.00" not in text and "12.35" not in text
    assert "one thousand two hundred thirty-five Japanese yen" in " ".join(text.split())


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["pending_approval", "processing", "failed"])
def test_only_succeeded_refunds_have_a_credit_note(specialist, state):
    refund = RefundFactory(requester=specialist, state=state)
    with pytest.raises(BusinessRuleViolation) as err:
        credit_note_pdf(refund=refund)
    assert err.value.code == "credit_note_unavailable"

