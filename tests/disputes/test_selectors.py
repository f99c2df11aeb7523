"""Reads: scoped by role, filtered by the shared FilterSet, payments found by id or PSP reference."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from disputes.filters import DisputeFilter
from disputes.selectors import dispute_checklist, dispute_list, payment_find, reason_code_find
from tests.invoices.factories import PaymentFactory

from .factories import DisputeFactory, EvidenceItemFactory, reason


@pytest.mark.django_db
def test_every_role_reads_disputes_and_a_user_without_a_role_reads_none(specialist, lead, auditor):
    dispute = DisputeFactory()
    nobody = get_user_model().objects.create_user("nobody")
    for user in (specialist, lead, auditor):
        assert list(dispute_list(user=user)) == [dispute]
    assert not dispute_list(user=nobody).exists()


@pytest.mark.django_db
def test_filters_apply_the_filterset_and_refuse_nonsense(auditor, api):
    fraud = DisputeFactory(reason_code=reason("10.4"))
    DisputeFactory()
    assert list(DisputeFilter({"category": ["fraud"]}, queryset=dispute_list(user=auditor)).qs) == [fraud]
    client = api(auditor)
    listed = client.get("/api/v1/disputes/", {"category": "fraud"})
    assert [row["id"] for row in listed.json()["results"]] == [fraud.pk]
    refused = client.get("/api/v1/disputes/", {"amount_min": "lots"})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid"


@pytest.mark.django_db
def test_the_checklist_uses_prefetched_evidence_without_more_queries(auditor, specialist,
                                                                     django_assert_num_queries):
    dispute = DisputeFactory()
    EvidenceItemFactory(dispute=dispute, kind="usage_logs", added_by=specialist)
    [loaded] = dispute_list(user=auditor, with_evidence=True)
    with django_assert_num_queries(0):
        assert dispute_checklist(dispute=loaded).percent == 50


@pytest.mark.django_db
def test_payments_are_found_by_id_or_psp_reference_and_codes_by_network():
    payment = PaymentFactory()
    assert payment_find(reference=str(payment.pk)) == payment
    assert payment_find(reference=payment.psp_reference) == payment
    assert payment_find(reference="ch_missing") is None and payment_find(reference=" ") is None
    assert reason_code_find(network="unionpay", code="fraudulent").network == "other"
    assert reason_code_find(network="visa", code="13.1") == reason("13.1")
