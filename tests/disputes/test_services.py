"""Dispute services: creation, deadlines, evidence, and every transition with its rules."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from backoffice.actors import CELERY, WEBHOOK_STRIPE
from backoffice.errors import (
    BusinessRuleViolation,
    ConcurrentChange,
    Conflict,
    InvalidInput,
    PermissionDenied,
    TransitionNotAllowed,
)
from backoffice.journal.models import DeniedAttempt, JournalEntry
from disputes.models import Dispute, DisputeState, EvidenceItem
from disputes.services import (
    dispute_accept,
    dispute_create,
    dispute_expire,
    dispute_mark_lost,
    dispute_mark_won,
    dispute_reopen,
    dispute_submit_evidence,
    dispute_transition,
    evidence_add,
)
from tests.invoices.factories import PaymentFactory

from .conftest import add_complete_evidence, media_files
from .factories import DisputeFactory, pdf_bytes, png_bytes, reason, upload, usage_csv

BUFFER = timedelta(hours=settings.DISPUTE_DEADLINE_BUFFER_HOURS)


def journal(dispute) -> list[JournalEntry]:
    return list(JournalEntry.objects.filter(case_type="dispute", case_id=dispute.pk).order_by("seq"))


def transitions_of(dispute) -> list[str]:
    return [row.transition for row in journal(dispute)]


# ---------------------------------------------------------------- create and deadlines


@pytest.mark.django_db
def test_create_takes_the_network_window_when_the_psp_gives_no_deadline(specialist):
    payment = PaymentFactory()
    before = timezone.now()

    dispute = dispute_create(actor=specialist, payment=payment, amount_minor=10000, currency="USD", network="visa",
                             reason_code="13.1", psp="stripe", psp_dispute_id="dp_1")

    assert dispute.reference == f"DSP-{dispute.pk:06d}"
    assert (dispute.state, dispute.stage) == ("needs_response", "chargeback")
    window = timedelta(days=reason("13.1").response_days)
    assert before + window <= dispute.due_at <= timezone.now() + window
    assert dispute.internal_due_at == dispute.due_at - BUFFER
    [row] = journal(dispute)
    assert (row.transition, row.source_state, row.target_state, row.actor_label) == (
        "create", "", "needs_response", "spec1")
    assert row.context["reason_code"] == "13.1" and row.context["due_source"] == "network_window"


@pytest.mark.django_db
def test_create_takes_the_psps_deadline_and_an_inquiry_starts_at_the_inquiry_stage():
    payment = PaymentFactory(network="mastercard")
    due = timezone.now() + timedelta(days=7)

    dispute = dispute_create(actor=WEBHOOK_STRIPE, payment=payment, amount_minor=2500, currency="USD",
                             network="mastercard", reason_code="4853", psp="stripe", psp_dispute_id="dp_2",
                             due_at=due, stage="inquiry")

    assert (dispute.state, dispute.stage, dispute.due_at) == ("inquiry", "inquiry", due)
    assert dispute.internal_due_at == due - BUFFER
    assert journal(dispute)[0].actor_label == "webhook:stripe"


@pytest.mark.django_db
def test_create_refuses_more_than_the_payment_captured_and_saves_nothing(specialist):
    payment = PaymentFactory(amount_minor=10000)

    with pytest.raises(InvalidInput) as err:
        dispute_create(actor=specialist, payment=payment, amount_minor=10001, currency="USD", network="visa",
                       reason_code="13.1", psp="stripe", psp_dispute_id="dp_3")

    assert err.value.code == "amount_exceeds_captured"
    assert "10000" in err.value.message
    assert not Dispute.objects.exists() and not JournalEntry.objects.filter(case_type="dispute").exists()


@pytest.mark.django_db
def test_a_dispute_in_another_currency_is_not_compared_with_the_captured_amount(specialist):
    payment = PaymentFactory(amount_minor=10000, currency="USD")

    dispute = dispute_create(actor=specialist, payment=payment, amount_minor=4_700_000, currency="KZT",
                             network="visa", reason_code="10.4", psp="stripe", psp_dispute_id="dp_4")

    assert (dispute.amount_minor, dispute.currency) == (4_700_000, "KZT")


@pytest.mark.django_db
def test_the_same_psp_dispute_is_recorded_once(specialist):
    payment = PaymentFactory()
    kwargs = dict(actor=specialist, payment=payment, amount_minor=100, currency="USD", network="visa",
                  reason_code="13.1", psp="stripe", psp_dispute_id="dp_dup")
    dispute_create(**kwargs)

    with pytest.raises(Conflict) as err:
        dispute_create(**kwargs)

    assert err.value.code == "dispute_exists" and err.value.status == 409
    assert Dispute.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("change, code", [
    ({"reason_code": "99.9"}, "unknown_reason_code"),
    ({"network": "mastercard", "reason_code": "4853"}, "network_mismatch"),
    ({"amount_minor": 0}, "amount_not_positive"),
    ({"currency": "XXQ"}, "invalid_currency"),
    ({"stage": "chargeback", "state": "won"}, "invalid_state"),
    ({"psp_dispute_id": " "}, "invalid_psp_dispute_id"),
])
def test_create_refuses_bad_input_with_a_clear_code(specialist, change, code):
    payment = PaymentFactory()
    kwargs = dict(actor=specialist, payment=payment, amount_minor=100, currency="USD", network="visa",
                  reason_code="13.1", psp="stripe", psp_dispute_id="dp_bad")

    with pytest.raises(InvalidInput) as err:
        dispute_create(**{**kwargs, **change})

    assert err.value.code == code
    assert not Dispute.objects.exists()


@pytest.mark.django_db
def test_generic_psp_reasons_serve_networks_without_their_own_codes(specialist):
    payment = PaymentFactory(network="unionpay")

    dispute = dispute_create(actor=specialist, payment=payment, amount_minor=100, currency="USD",
                             network="unionpay", reason_code="product_not_received", psp="stripe",
                             psp_dispute_id="dp_up")

    assert (dispute.reason_code.network, dispute.reason_code.code) == ("other", "product_not_received")


@pytest.mark.django_db
def test_an_auditor_cannot_create_a_dispute_and_the_attempt_is_recorded(auditor):
    with pytest.raises(PermissionDenied):
        dispute_create(actor=auditor, payment=PaymentFactory(), amount_minor=100, currency="USD", network="visa",
                       reason_code="13.1", psp="stripe", psp_dispute_id="dp_aud")

    assert not Dispute.objects.exists()
    assert DeniedAttempt.objects.filter(case_type="dispute", action="create", actor_label="audit1").count() == 1


# ---------------------------------------------------------------- every transition from every state

ALLOWED = {
    "open_chargeback": {"inquiry": "needs_response"},
    "close_inquiry": {"inquiry": "closed"},
    "submit_evidence": {"needs_response": "under_review"},
    "accept": {"needs_response": "accepted"},
    "expire": {"needs_response": "expired"},
    "mark_won": {"under_review": "won", "needs_response": "won"},  # from needs_response: the PSP only
    "mark_lost": {"under_review": "lost", "needs_response": "lost"},
    "reopen": {"won": "needs_response", "lost": "needs_response"},
}
# Who may take each transition (DESIGN.md), so only the state decides in this test.
ACTOR = {
    "open_chargeback": "specialist", "close_inquiry": "specialist", "submit_evidence": "specialist",
    "accept": "lead", "expire": "system", "mark_won": "system", "mark_lost": "system", "reopen": "lead",
}


@pytest.mark.django_db
@pytest.mark.parametrize("state", DisputeState.values)
@pytest.mark.parametrize("name", list(ALLOWED))
def test_every_transition_from_every_state(name, state, specialist, lead):
    actor = {"specialist": specialist, "lead": lead, "system": CELERY}[ACTOR[name]]
    due = timezone.now() + (timedelta(hours=-1) if name == "expire" else timedelta(days=5))
    dispute = DisputeFactory(state=state, due_at=due, assignee=specialist)
    if name == "submit_evidence" and state == "needs_response":
        add_complete_evidence(dispute, specialist)
    rows_before = len(journal(dispute))
    target = ALLOWED[name].get(state)

    if target is not None:
        result = dispute_transition(case_id=dispute.pk, name=name, actor=actor, reason="test", data={})

        assert result.state == target == Dispute.objects.get(pk=dispute.pk).state
        rows = journal(dispute)
        assert len(rows) == rows_before + 1
        assert (rows[-1].transition, rows[-1].source_state, rows[-1].target_state) == (name, state, target)
        assert rows[-1].prev_hash == rows[-2].hash
    else:
        with pytest.raises(TransitionNotAllowed) as err:
            dispute_transition(case_id=dispute.pk, name=name, actor=actor, reason="test", data={})

        assert err.value.code == "transition_not_allowed"
        assert Dispute.objects.get(pk=dispute.pk).state == state
        assert len(journal(dispute)) == rows_before
        assert DeniedAttempt.objects.filter(case_id=dispute.pk, action=name,
                                            code="transition_not_allowed").count() == 1


@pytest.mark.django_db
def test_an_auditor_is_refused_every_transition_and_nothing_is_journaled(auditor):
    for state in DisputeState.values:
        dispute = DisputeFactory(state=state)
        for name in ALLOWED:
            with pytest.raises(PermissionDenied):
                dispute_transition(case_id=dispute.pk, name=name, actor=auditor, reason="", data={})
        assert transitions_of(dispute) == ["create"]
    assert DeniedAttempt.objects.filter(actor_label="audit1", code="permission_denied").count() == 8 * 8


@pytest.mark.django_db
def test_unknown_transition_names_are_refused(lead):
    dispute = DisputeFactory()
    with pytest.raises(TransitionNotAllowed) as err:
        dispute_transition(case_id=dispute.pk, name="delete", actor=lead, reason="", data={})
    assert err.value.code == "unknown_transition"


# ---------------------------------------------------------------- submit_evidence


@pytest.mark.django_db
def test_a_complete_dispute_submitted_before_its_deadline_goes_under_review_with_its_packet(dispute, specialist):
    add_complete_evidence(dispute, specialist)

    result = dispute_submit_evidence(dispute_id=dispute.pk, actor=specialist, reason="usage logs attached")

    assert result.state == "under_review" and result.submitted_at is not None
    assert result.evidence_overridden is False
    stored = result.packet.read()
    assert stored.startswith(b"%PDF-")
    assert result.packet_sha256 == hashlib.sha256(stored).hexdigest()
    row = journal(result)[-1]
    assert row.transition == "submit_evidence" and row.reason == "usage logs attached"
    assert row.context["packet_sha256"] == result.packet_sha256
    assert row.context["evidence_override"] is False
    assert row.context["evidence_kinds"] == ["customer_communication", "proof_of_delivery"]


@pytest.mark.django_db
def test_an_incomplete_dispute_is_refused_naming_what_is_missing(dispute, specialist):
    evidence_add(dispute_id=dispute.pk, actor=specialist, kind="customer_communication", text="E-mail thread.")
    files_before = media_files()

    with pytest.raises(BusinessRuleViolation) as err:
        dispute_submit_evidence(dispute_id=dispute.pk, actor=specialist)

    assert err.value.code == "evidence_incomplete" and err.value.status == 409
    assert "Proof of delivery or Usage logs" in err.value.message
    assert err.value.extra["missing_evidence"] == ["proof_of_delivery", "usage_logs"]
    assert Dispute.objects.get(pk=dispute.pk).state == "needs_response"
    assert transitions_of(dispute)[-1] == "add_evidence"
    assert DeniedAttempt.objects.filter(case_id=dispute.pk, code="evidence_incomplete").count() == 1
    assert media_files() == files_before  # no packet was rendered or stored


@pytest.mark.django_db
def test_a_late_submission_is_refused_even_with_a_team_lead_override(specialist, lead):
    dispute = DisputeFactory(due_at=timezone.now() - timedelta(minutes=1))
    add_complete_evidence(dispute, specialist)

    for actor, override in ((specialist, False), (lead, True)):
        with pytest.raises(BusinessRuleViolation) as err:
            dispute_submit_evidence(dispute_id=dispute.pk, actor=actor, reason="late", override=override)
        assert err.value.code == "deadline_passed"
    assert Dispute.objects.get(pk=dispute.pk).state == "needs_response"


@pytest.mark.django_db
def test_a_team_lead_overrides_missing_evidence_with_a_reason_in_the_journal(dispute, lead):
    result = dispute_submit_evidence(dispute_id=dispute.pk, actor=lead, override=True,
                                     reason="Customer confirmed in writing; logs are on their side.")

    assert result.state == "under_review" and result.evidence_overridden is True
    row = journal(result)[-1]
    assert row.reason == "Customer confirmed in writing; logs are on their side."
    assert row.actor_label == "lead1"
    assert row.context["evidence_override"] is True
    assert row.context["missing_evidence"] == ["proof_of_delivery", "usage_logs", "customer_communication"]


@pytest.mark.django_db
def test_only_a_team_lead_may_override_and_only_with_a_reason(dispute, specialist, lead):
    with pytest.raises(PermissionDenied) as err:
        dispute_submit_evidence(dispute_id=dispute.pk, actor=specialist, override=True, reason="trust me")
    assert err.value.code == "override_not_permitted"

    with pytest.raises(InvalidInput) as err:
        dispute_submit_evidence(dispute_id=dispute.pk, actor=lead, override=True, reason="  ")
    assert err.value.code == "override_reason_required"

    assert Dispute.objects.get(pk=dispute.pk).state == "needs_response"
    assert transitions_of(dispute) == ["create"]


@pytest.mark.django_db
def test_an_override_is_not_recorded_when_nothing_is_missing(dispute, lead):
    add_complete_evidence(dispute, lead)

    result = dispute_submit_evidence(dispute_id=dispute.pk, actor=lead, override=True, reason="belt and braces")

    assert result.evidence_overridden is False
    assert journal(result)[-1].context["evidence_override"] is False


@pytest.mark.django_db
def test_fraud_codes_need_every_compelling_evidence_kind(specialist):
    dispute = DisputeFactory(reason_code=reason("10.4"))
    for kind in ("avs_cvv_result", "three_d_secure", "device_ip_history"):
        evidence_add(dispute_id=dispute.pk, actor=specialist, kind=kind, text=f"{kind} attached")

    with pytest.raises(BusinessRuleViolation) as err:
        dispute_submit_evidence(dispute_id=dispute.pk, actor=specialist)
    assert err.value.extra["missing_evidence"] == ["prior_undisputed_transactions"]

    evidence_add(dispute_id=dispute.pk, actor=specialist, kind="prior_undisputed_transactions",
                 text="9 earlier payments, none disputed")
    assert dispute_submit_evidence(dispute_id=dispute.pk, actor=specialist).state == "under_review"


# ---------------------------------------------------------------- accept, expire, outcomes, reopen


@pytest.mark.django_db
def test_only_a_team_lead_accepts_a_dispute(dispute, specialist, lead):
    with pytest.raises(PermissionDenied):
        dispute_accept(dispute_id=dispute.pk, actor=specialist, reason="not worth it")

    result = dispute_accept(dispute_id=dispute.pk, actor=lead, reason="Below the cost of fighting it.")

    assert result.state == "accepted" and result.resolved_at is not None
    assert journal(result)[-1].reason == "Below the cost of fighting it."


@pytest.mark.django_db
def test_expire_is_for_the_system_once_the_deadline_has_passed(lead):
    waiting = DisputeFactory(due_at=timezone.now() + timedelta(hours=1))
    with pytest.raises(BusinessRuleViolation) as err:
        dispute_expire(dispute_id=waiting.pk, actor=CELERY)
    assert err.value.code == "deadline_not_passed"

    late = DisputeFactory(due_at=timezone.now() - timedelta(hours=1))
    with pytest.raises(PermissionDenied):
        dispute_expire(dispute_id=late.pk, actor=lead)
    assert dispute_expire(dispute_id=late.pk, actor=CELERY).state == "expired"
    assert journal(late)[-1].actor_label == "system:celery"


@pytest.mark.django_db
def test_outcomes_come_from_the_psp_or_a_team_lead(specialist, lead):
    first, second = DisputeFactory(state="under_review"), DisputeFactory(state="under_review")
    with pytest.raises(PermissionDenied):
        dispute_mark_won(dispute_id=first.pk, actor=specialist)

    assert dispute_mark_won(dispute_id=first.pk, actor=WEBHOOK_STRIPE).state == "won"
    assert dispute_mark_lost(dispute_id=second.pk, actor=lead, reason="PSP portal says lost").state == "lost"


@pytest.mark.django_db
def test_reopen_advances_the_stage_with_a_new_deadline_and_stops_after_arbitration(specialist, lead):
    dispute = DisputeFactory(state="lost", due_at=timezone.now() - timedelta(days=20))

    result = dispute_reopen(dispute_id=dispute.pk, actor=WEBHOOK_STRIPE, reason="issuer pre-arbitration")

    assert (result.state, result.stage) == ("needs_response", "pre_arbitration")
    window = timedelta(days=dispute.reason_code.response_days)
    assert abs(result.due_at - (timezone.now() + window)) < timedelta(minutes=1)
    assert result.internal_due_at == result.due_at - BUFFER
    assert journal(result)[-1].context["stage"] == "pre_arbitration"

    add_complete_evidence(result, specialist)
    dispute_submit_evidence(dispute_id=dispute.pk, actor=specialist)
    dispute_mark_won(dispute_id=dispute.pk, actor=lead)
    given = timezone.now() + timedelta(days=9)
    result = dispute_transition(case_id=dispute.pk, name="reopen", actor=lead, reason="arbitration",
                                data={"due_at": given.isoformat()})
    assert (result.stage, result.due_at) == ("arbitration", given)

    dispute_submit_evidence(dispute_id=dispute.pk, actor=specialist)
    dispute_mark_lost(dispute_id=dispute.pk, actor=lead)
    with pytest.raises(BusinessRuleViolation) as err:
        dispute_reopen(dispute_id=dispute.pk, actor=lead)
    assert err.value.code == "no_further_stage"
    assert Dispute.objects.get(pk=dispute.pk).state == "lost"


@pytest.mark.django_db
def test_reopen_refuses_a_due_date_in_the_past(lead):
    dispute = DisputeFactory(state="won")
    with pytest.raises(InvalidInput) as err:
        dispute_transition(case_id=dispute.pk, name="reopen", actor=lead, reason="",
                           data={"due_at": "2001-01-01T00:00:00Z"})
    assert err.value.code == "invalid_due_at"
    with pytest.raises(InvalidInput):
        dispute_transition(case_id=dispute.pk, name="reopen", actor=lead, reason="", data={"due_at": "soon"})
    assert Dispute.objects.get(pk=dispute.pk).state == "won"


@pytest.mark.django_db
def test_open_chargeback_turns_an_inquiry_into_a_chargeback_with_its_own_deadline(specialist):
    dispute = DisputeFactory(state="inquiry")
    result = dispute_transition(case_id=dispute.pk, name="open_chargeback", actor=specialist, reason="",
                                data={"due_at": "2099-03-01"})
    assert (result.state, result.stage) == ("needs_response", "chargeback")
    assert result.due_at.isoformat() == "2099-03-01T23:59:59+00:00"


@pytest.mark.django_db
def test_expected_state_guards_against_acting_on_a_stale_page(dispute, lead):
    with pytest.raises(ConcurrentChange):
        dispute_transition(case_id=dispute.pk, name="accept", actor=lead, reason="",
                           data={"expected_state": "inquiry"})
    assert Dispute.objects.get(pk=dispute.pk).state == "needs_response"


# ---------------------------------------------------------------- evidence


@pytest.mark.django_db
def test_an_uploaded_file_is_stored_under_a_generated_name_with_its_hash(dispute, specialist):
    data = usage_csv()

    item = evidence_add(dispute_id=dispute.pk, actor=specialist, kind="usage_logs", text="",
                        upload=upload("usage nov.csv", data, "text/csv"))

    assert item.original_name == "usage nov.csv" and item.mime_type == "text/csv"
    assert item.sha256 == hashlib.sha256(data).hexdigest() and item.size == len(data)
    assert "usage" not in item.file.name and item.file.name.endswith(".csv")
    assert item.file.read() == data
    row = journal(dispute)[-1]
    assert (row.transition, row.context["kind"], row.context["sha256"]) == ("add_evidence", "usage_logs",
                                                                             item.sha256)


@pytest.mark.django_db
@pytest.mark.parametrize("name, content", [
    ("invoice.pdf", b"just text pretending to be a PDF"),
    ("screenshot.png", pdf_bytes()),
    ("usage.csv", png_bytes()),
    ("run.exe", b"MZ\x90\x00"),
])
def test_a_file_whose_content_does_not_match_its_name_is_refused_and_nothing_is_stored(dispute, specialist, name,
                                                                                        content):
    files_before = media_files()

    with pytest.raises(InvalidInput) as err:
        evidence_add(dispute_id=dispute.pk, actor=specialist, kind="usage_logs", text="see file",
                     upload=upload(name, content))

    assert err.value.code in ("file_content_mismatch", "file_type_not_allowed")
    assert not EvidenceItem.objects.exists()
    assert media_files() == files_before
    assert transitions_of(dispute) == ["create"]


@pytest.mark.django_db
def test_auditors_add_no_evidence_and_closed_disputes_take_none(dispute, auditor, specialist):
    with pytest.raises(PermissionDenied):
        evidence_add(dispute_id=dispute.pk, actor=auditor, kind="usage_logs", text="x")
    assert DeniedAttempt.objects.filter(case_id=dispute.pk, action="add_evidence", actor_label="audit1").exists()

    submitted = DisputeFactory(state="under_review")
    files_before = media_files()
    with pytest.raises(Conflict) as err:
        evidence_add(dispute_id=submitted.pk, actor=specialist, kind="usage_logs", text="late",
                     upload=upload("late.csv", usage_csv()))
    assert err.value.code == "evidence_closed"
    assert not EvidenceItem.objects.exists()
    assert media_files() == files_before


@pytest.mark.django_db
def test_evidence_needs_a_known_kind_and_some_content(dispute, specialist):
    with pytest.raises(InvalidInput) as err:
        evidence_add(dispute_id=dispute.pk, actor=specialist, kind="vibes", text="x")
    assert err.value.code == "invalid_evidence_kind"
    with pytest.raises(InvalidInput) as err:
        evidence_add(dispute_id=dispute.pk, actor=specialist, kind="usage_logs", text="   ")
    assert err.value.code == "evidence_empty"


# ---------------------------------------------------------------- the journal


@pytest.mark.django_db
def test_a_full_lifecycle_leaves_one_row_per_step_and_an_intact_journal(specialist, lead, capsys):
    dispute = dispute_create(actor=WEBHOOK_STRIPE, payment=PaymentFactory(), amount_minor=10000, currency="USD",
                             network="visa", reason_code="13.1", psp="stripe", psp_dispute_id="dp_life",
                             stage="inquiry")
    dispute_transition(case_id=dispute.pk, name="open_chargeback", actor=WEBHOOK_STRIPE, reason="", data={})
    add_complete_evidence(dispute, specialist)
    dispute_submit_evidence(dispute_id=dispute.pk, actor=specialist)
    dispute_mark_lost(dispute_id=dispute.pk, actor=WEBHOOK_STRIPE)
    dispute_reopen(dispute_id=dispute.pk, actor=lead, reason="pre-arbitration")
    dispute_accept(dispute_id=dispute.pk, actor=lead, reason="arbitration fees exceed the amount")

    assert transitions_of(dispute) == ["create", "open_chargeback", "add_evidence", "add_evidence",
                                       "submit_evidence", "mark_lost", "reopen", "accept"]
    call_command("verify_journal")
    assert "Journal intact" in capsys.readouterr().out


# ---------------------------------------------------------------- concurrency (PostgreSQL)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_people_submitting_at_once_make_exactly_one_submission(specialist, specialist2):
    dispute = DisputeFactory()
    add_complete_evidence(dispute, specialist)
    barrier = threading.Barrier(2)
    results = []

    def submit(actor):
        try:
            barrier.wait(5)
            dispute_submit_evidence(dispute_id=dispute.pk, actor=actor)
            results.append("ok")
        except (ConcurrentChange, TransitionNotAllowed) as err:
            results.append(err.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit, args=(actor,)) for actor in (specialist, specialist2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert results.count("ok") == 1
    assert transitions_of(dispute).count("submit_evidence") == 1
    assert Dispute.objects.get(pk=dispute.pk).state == "under_review"
