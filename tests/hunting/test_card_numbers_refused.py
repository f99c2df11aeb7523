"""A card number typed or pasted into free text is refused with a clear error, and nothing is stored:
comments, transition reasons, dispute evidence text, refund notes, extension reasons; on the API and pages."""

import pytest

from backoffice.cases.models import Comment
from backoffice.journal.models import JournalEntry
from backoffice.parsing import InvalidValue, contains_card_number
from disputes.models import EvidenceItem
from disputes.services import evidence_add
from tests.disputes.factories import DisputeFactory

pytestmark = pytest.mark.django_db

PAN = "4242 4242 4242 4242"  # Luhn-valid test card


@pytest.mark.parametrize("text, found", [
    (f"customer read out {PAN} on the phone", True),
    ("card 5555-5555-5555-4444 charged twice", True),
    ("4000056655665556", True),
    ("card ending 4242", False),
    ("731.25 GPU-hours and 38 logins after the charge", False),
    ("invoice INV-2026-000123, order 20261130123456", False),  # 14 digits, not Luhn-valid
    ("4242 4242 4242 4241", False),  # one digit off: fails Luhn
    ("packet sha256 9f2c6263696120706ab1", False),  # digits inside a hex digest
])
def test_what_counts_as_a_card_number(text, found):
    assert contains_card_number(text) is found


def test_a_comment_with_a_card_number_is_refused_on_the_api_and_nothing_is_stored(api, specialist):
    dispute = DisputeFactory(assignee=specialist)
    response = api(specialist).post(f"/api/v1/disputes/{dispute.pk}/comments/", {"body": f"Card {PAN}"},
                                    format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "card_number_in_text"
    assert "last four" in response.json()["detail"]
    assert not Comment.objects.exists()
    ok = api(specialist).post(f"/api/v1/disputes/{dispute.pk}/comments/", {"body": "Card ending 4242"},
                              format="json")
    assert ok.status_code in (200, 201) and Comment.objects.count() == 1


def test_a_transition_reason_with_a_card_number_changes_nothing(api, specialist, lead):
    dispute = DisputeFactory(assignee=specialist)
    rows = JournalEntry.objects.count()
    response = api(lead).post(f"/api/v1/disputes/{dispute.pk}/transitions/accept/",
                              {"reason": f"customer card {PAN}"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "card_number_in_text"
    dispute.refresh_from_db()
    assert dispute.state == "needs_response" and JournalEntry.objects.count() == rows


def test_evidence_text_with_a_card_number_is_refused(specialist):
    dispute = DisputeFactory(assignee=specialist)
    with pytest.raises(InvalidValue) as err:
        evidence_add(dispute_id=dispute.pk, actor=specialist, kind="customer_communication",
                     text=f"The customer wrote: my card is {PAN}")
    assert err.value.code == "card_number_in_text" and not EvidenceItem.objects.exists()


def test_a_comment_form_with_a_card_number_shows_an_error_and_stores_nothing(client, specialist):
    dispute = DisputeFactory(assignee=specialist)
    client.force_login(specialist)
    response = client.post(f"/cases/disputes/{dispute.pk}/comment/", {"body": f"Card {PAN}"}, follow=True)
    assert response.status_code in (200, 400)
    assert "card number" in response.content.decode()
    assert not Comment.objects.exists()
