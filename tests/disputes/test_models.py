"""The reason-code catalogue, the evidence checklist and the constraints the database keeps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from disputes.models import (
    Dispute,
    EvidenceKind,
    ReasonCategory,
    ReasonCode,
    Requirement,
    evidence_checklist,
)

from .factories import DisputeFactory, EvidenceItemFactory, reason

VISA_CODES = {"10.1", "10.2", "10.3", "10.4", "10.5", "11.1", "11.2", "11.3", "12.1", "12.2", "12.3", "12.4",
              "12.5", "12.6.1", "12.6.2", "12.7", "13.1", "13.2", "13.3", "13.4", "13.5", "13.6", "13.7", "13.8",
              "13.9"}
MASTERCARD_CODES = {"4808", "4834", "4837", "4840", "4849", "4853", "4855", "4863", "4870", "4871"}
AMEX_CODES = {"A01", "A02", "A08", "C02", "C04", "C05", "C08", "C14", "C18", "C28", "C31", "C32", "F10", "F24",
              "F29", "P01"}
DISCOVER_CODES = {"AA", "AP", "AW", "CD", "DP", "NF", "RG", "RM", "UA01", "UA02"}
# Response windows merchants get from their processor (DOMAIN.md).
WINDOWS = {"visa": (18, 30), "mastercard": (40, 45), "amex": (14, 20), "discover": (25, 25)}


def codes(network: str) -> set[str]:
    return set(ReasonCode.objects.filter(network=network).values_list("code", flat=True))


@pytest.mark.django_db
def test_the_catalogue_has_every_network_code_the_team_meets():
    assert codes("visa") == VISA_CODES
    assert codes("mastercard") == MASTERCARD_CODES
    assert AMEX_CODES <= codes("amex")
    assert DISCOVER_CODES <= codes("discover")
    assert {"fraudulent", "product_not_received", "subscription_canceled", "duplicate"} <= codes("other")


@pytest.mark.django_db
def test_every_code_has_a_category_a_network_window_and_known_evidence_kinds():
    for code in ReasonCode.objects.all():
        assert code.category in ReasonCategory.values, code
        assert code.title, code
        low, high = WINDOWS.get(code.network, (7, 45))
        assert low <= code.response_days <= high, code
        code.full_clean()
        for line in code.required_evidence:
            assert set(Requirement.parse(line).kinds) <= set(EvidenceKind.values), code
    categories = set(ReasonCode.objects.values_list("network", "category").distinct())
    for network in ("visa", "mastercard", "amex", "discover"):
        assert {c for n, c in categories if n == network} == set(ReasonCategory.values), network


@pytest.mark.django_db
def test_not_received_takes_proof_of_delivery_or_usage_logs_and_card_absent_fraud_compelling_evidence():
    assert reason("13.1").required_evidence == ["proof_of_delivery|usage_logs", "customer_communication"]
    assert reason("13.1").category == "consumer_dispute"
    assert reason("10.4").required_evidence == [
        "avs_cvv_result", "three_d_secure", "device_ip_history", "prior_undisputed_transactions"]
    assert reason("10.4").category == "fraud"
    assert reason("12.6.1").category == "processing_error"
    assert reason("4837", "mastercard").category == "fraud"


def test_the_checklist_counts_alternatives_once_and_lists_what_is_missing():
    requirements = ["proof_of_delivery|usage_logs", "customer_communication", "terms_of_service"]

    empty = evidence_checklist(requirements, set())
    assert (empty.percent, empty.complete) == (0, False)
    assert empty.required == ["proof_of_delivery", "usage_logs", "customer_communication", "terms_of_service"]
    assert empty.missing == empty.required
    assert empty.missing_labels[0] == "Proof of delivery or Usage logs (GPU hours, API calls, logins)"

    partial = evidence_checklist(requirements, {"usage_logs", "other"})
    assert partial.percent == 33
    assert partial.missing == ["customer_communication", "terms_of_service"]

    full = evidence_checklist(requirements, {"usage_logs", "customer_communication", "terms_of_service"})
    assert (full.percent, full.complete, full.missing) == (100, True, [])
    assert evidence_checklist([], set()).percent == 100


def test_a_reason_code_with_an_unknown_evidence_kind_does_not_validate():
    code = ReasonCode(network="visa", code="99.1", category="fraud", title="Test", response_days=10,
                      required_evidence=["usage_logs|telepathy"])
    with pytest.raises(ValidationError) as err:
        code.clean()
    assert "telepathy" in str(err.value)


@pytest.mark.django_db
def test_the_state_changes_only_through_transitions():
    dispute = DisputeFactory()
    with pytest.raises(AttributeError):
        dispute.state = "won"


@pytest.mark.django_db
@pytest.mark.parametrize("fields", [
    {"amount_minor": 0},
    {"amount_minor": -5},
    {"currency": "usd"},
    {"state": "inquiry", "stage": "chargeback"},
    {"state": "needs_response", "stage": "inquiry"},
    {"state": "bogus"},
])
def test_the_database_refuses_what_must_never_be_true(fields):
    template = DisputeFactory()
    row = {f.attname: getattr(template, f.attname) for f in Dispute._meta.concrete_fields
           if f.attname not in ("id", "reference", "psp_dispute_id")}
    row.update(psp_dispute_id="dp_constraint", **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        Dispute.objects.create(**row)


@pytest.mark.django_db
def test_the_psp_dispute_id_is_unique_per_psp_and_the_internal_due_date_comes_first():
    first = DisputeFactory(psp="stripe", psp_dispute_id="dp_same")
    DisputeFactory(psp="adyen", psp_dispute_id="dp_same")
    with pytest.raises(IntegrityError), transaction.atomic():
        DisputeFactory(psp="stripe", psp_dispute_id="dp_same", payment=first.payment)
    with pytest.raises(IntegrityError), transaction.atomic():
        DisputeFactory(due_at=timezone.now(), internal_due_at=timezone.now() + timedelta(hours=1))


@pytest.mark.django_db
def test_evidence_needs_text_or_a_file_of_a_known_kind(specialist):
    dispute = DisputeFactory()
    EvidenceItemFactory(dispute=dispute, added_by=specialist)
    with pytest.raises(IntegrityError), transaction.atomic():
        EvidenceItemFactory(dispute=dispute, added_by=specialist, text="")
    with pytest.raises(IntegrityError), transaction.atomic():
        EvidenceItemFactory(dispute=dispute, added_by=specialist, kind="telepathy")
