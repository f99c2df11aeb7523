"""Evidence submitted to the PSP once a dispute's response is submitted here (``submit_evidence``).

After the transition commits, the task ``disputes.submit_evidence_to_psp`` sends the cycle's
evidence, outside any transaction and row lock:

* **Stripe**: each evidence file (and the evidence packet PDF) uploaded with ``File.create``
  (purpose ``dispute_evidence``), then one dispute update with the evidence fields mapped from our
  evidence kinds and ``submit=true``.
* **Adyen** (Disputes API): ``supplyDefenseDocument`` with the packet PDF, then ``defendDispute``
  with ``ADYEN_DEFENSE_REASON_CODE``.

Idempotent: ``PspSubmission`` (one per dispute and stage) records each step as soon as the PSP
answers, and the PSP calls carry idempotency keys (``<reference>-<stage>-<step>``), so a task that
runs twice sends nothing twice. Transient errors (network, 5xx, rate limits) are retried with
backoff; a PSP refusal (4xx, Adyen ``success=false``) is recorded on the timeline, the assignee and
team leads are told, and a team lead can send it again after fixing the evidence
(``dispute_psp_resubmit``). With ``PAYMENT_GATEWAY=sandbox`` nothing leaves: the submission is
recorded as done by the sandbox.
"""

from __future__ import annotations

import base64
import io
import logging
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from backoffice.actors import CELERY
from backoffice.errors import InvalidInput, NotFound
from backoffice.gateway import GatewayTransientError
from backoffice.journal.services import journal_record
from backoffice.notifications.services import alert_claim_and_notify, team_leads

from . import policy
from .models import Dispute, DisputeState, EvidenceItem, EvidenceKind, PspSubmission, PspSubmissionStatus

logger = logging.getLogger("disputes.psp_evidence")

K = EvidenceKind
# Our evidence kinds → Stripe's dispute evidence fields (file fields hold one file id each).
STRIPE_FILE_FIELDS = {
    K.PROOF_OF_DELIVERY: "service_documentation", K.USAGE_LOGS: "service_documentation",
    K.CUSTOMER_COMMUNICATION: "customer_communication", K.CANCELLATION_POLICY: "cancellation_policy",
    K.TERMS_OF_SERVICE: "cancellation_policy", K.REFUND_POLICY: "refund_policy", K.INVOICE: "receipt",
    K.DUPLICATE_CHARGE_DOCUMENTATION: "duplicate_charge_documentation",
}
STRIPE_TEXT_FIELDS = {
    K.USAGE_LOGS: "access_activity_log", K.DEVICE_IP_HISTORY: "access_activity_log",
    K.SERVICE_DESCRIPTION: "product_description", K.PROOF_OF_DELIVERY: "product_description",
    K.CANCELLATION_POLICY: "cancellation_policy_disclosure", K.TERMS_OF_SERVICE: "cancellation_policy_disclosure",
    K.REFUND_POLICY: "refund_policy_disclosure", K.DUPLICATE_CHARGE_DOCUMENTATION: "duplicate_charge_explanation",
}
PACKET_FIELD = "uncategorized_file"
TEXT_LIMIT = 20_000
SUBMITTABLE_PSPS = ("stripe", "adyen")


class PspRefusal(Exception):
    """The PSP answered and said no: recorded for a person, not retried."""


def evidence_psp_target(dispute: Dispute) -> str:
    """Where this dispute's evidence goes: its PSP when the gateway is configured for it, else the sandbox."""
    configured = (getattr(settings, "PAYMENT_GATEWAY", "") or "sandbox").strip().lower()
    if dispute.psp in SUBMITTABLE_PSPS and configured in ("psp", dispute.psp):
        return dispute.psp
    return "sandbox"


def psp_evidence_enqueue(dispute_id: int) -> None:
    """Once the current transaction commits, send the dispute's evidence to its PSP."""
    from .tasks import enqueue_psp_evidence

    transaction.on_commit(lambda: enqueue_psp_evidence(dispute_id), robust=True)


# ---------------------------------------------------------------- claiming and recording


def dispute_psp_submission_start(*, dispute_id: int) -> PspSubmission | None:
    """Claim this cycle's submission (created on first use); None when it is done or not due."""
    dispute = Dispute.objects.filter(pk=dispute_id).first()
    if dispute is None or dispute.state != DisputeState.UNDER_REVIEW or not dispute.packet:
        return None
    try:
        with transaction.atomic():
            PspSubmission.objects.get_or_create(dispute=dispute, stage=dispute.stage,
                                                defaults={"psp": evidence_psp_target(dispute)})
    except IntegrityError:
        pass  # claimed concurrently
    with transaction.atomic():
        submission = PspSubmission.objects.select_for_update().get(dispute=dispute, stage=dispute.stage)
        if submission.status in (PspSubmissionStatus.SUBMITTED, PspSubmissionStatus.REFUSED):
            return None
        submission.status = PspSubmissionStatus.SENDING
        submission.attempts += 1
        submission.save(update_fields=["status", "attempts", "updated_at"])
    return submission


def _remember(submission: PspSubmission, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(submission, name, value)
    PspSubmission.objects.filter(pk=submission.pk).update(**fields, updated_at=timezone.now())


def dispute_psp_submission_finish(*, submission_id: int, status: str, error: str = "",
                                  sent_fields: dict[str, Any] | None = None) -> PspSubmission:
    """Record the final result and put it on the dispute's timeline (and tell people about a refusal)."""
    with transaction.atomic():
        submission = PspSubmission.objects.select_for_update().get(pk=submission_id)
        if submission.status in (PspSubmissionStatus.SUBMITTED, PspSubmissionStatus.REFUSED):
            return submission
        submission.status, submission.last_error = status, error[:500]
        if sent_fields is not None:
            submission.sent_fields = sent_fields
        if status == PspSubmissionStatus.SUBMITTED:
            submission.submitted_at = timezone.now()
        submission.save()
        dispute = Dispute.objects.select_for_update().get(pk=submission.dispute_id)
        name = {PspSubmissionStatus.SUBMITTED: "psp_evidence_submitted",
                PspSubmissionStatus.REFUSED: "psp_evidence_refused"}.get(status, "psp_evidence_failed")
        journal_record(
            case_type=Dispute.CASE_TYPE, case_id=dispute.pk, case_reference=dispute.reference or "", transition=name,
            source=dispute.state, target=dispute.state, actor=CELERY, reason=error[:2000],
            context={"psp": submission.psp, "stage": submission.stage, "attempts": submission.attempts,
                     "fields": sorted((sent_fields or submission.sent_fields or {}).keys()),
                     "files": submission.uploaded_files},
        )
        if status != PspSubmissionStatus.SUBMITTED:
            people = [u for u in [dispute.assignee, *team_leads()] if u is not None]
            alert_claim_and_notify(
                case_type=Dispute.CASE_TYPE, case_id=dispute.pk, case_reference=dispute.reference or "",
                kind="psp_refused", due_at=submission.created_at, offset_days=submission.attempts,
                recipients={u.pk: u for u in people}.values(),
                title=f"{dispute.reference}: the PSP did not take the evidence",
                body=f"{submission.psp} answered: {error or 'no answer'}. Fix the evidence and send it again.",
                url=reverse("disputes:detail", args=[dispute.pk]),
            )
    logger.info("psp_evidence dispute_id=%s psp=%s status=%s", submission.dispute_id, submission.psp, status)
    return submission


# ---------------------------------------------------------------- what is sent


def _evidence(dispute: Dispute) -> list[EvidenceItem]:
    return list(EvidenceItem.objects.filter(dispute=dispute, stage=dispute.stage).order_by("created_at", "id"))


def _read(field_file) -> bytes:
    with field_file.open("rb") as handle:
        return handle.read()


def stripe_evidence_plan(dispute: Dispute, items: list[EvidenceItem]) -> tuple[dict[str, str], list[tuple]]:
    """``(text fields, files)``: files are ``(key, stripe field, file name, stored file)``; a second file
    for a field that is taken travels inside the packet PDF only (it holds every item)."""
    texts: dict[str, list[str]] = {}
    files: list[tuple] = [("packet", PACKET_FIELD, f"{dispute.reference}-evidence-packet.pdf", dispute.packet)]
    taken = {PACKET_FIELD}
    for item in items:
        label = dict(EvidenceKind.choices).get(item.kind, item.kind)
        if item.text:
            field = STRIPE_TEXT_FIELDS.get(item.kind, "uncategorized_text")
            texts.setdefault(field, []).append(item.text if field != "uncategorized_text"
                                               else f"{label}: {item.text}")
        if item.file:
            field = STRIPE_FILE_FIELDS.get(item.kind)
            if field and field not in taken:
                taken.add(field)
                name = item.original_name or PurePosixPath(item.file.name).name
                files.append((f"evidence-{item.pk}", field, name, item.file))
    fields = {field: "\n\n".join(parts)[:TEXT_LIMIT] for field, parts in texts.items()}
    customer = dispute.payment.customer
    fields["customer_name"] = customer.name[:TEXT_LIMIT]
    if customer.email:
        fields["customer_email_address"] = customer.email
    return fields, files


def _stripe_client() -> stripe.StripeClient:
    from backoffice.gateway.stripe_gateway import StripeGateway

    gateway = StripeGateway()
    if not gateway.api_key:
        raise PspRefusal("STRIPE_API_KEY is not set: nothing was sent to Stripe.")
    base = gateway.api_base.rstrip("/")
    files_base = base if getattr(settings, "STRIPE_API_BASE", "") else stripe.DEFAULT_UPLOAD_API_BASE
    return stripe.StripeClient(gateway.api_key, base_addresses={"api": base, "files": files_base},
                               max_network_retries=0, http_client=stripe.RequestsClient(timeout=gateway.timeout))


def _stripe_call(submission: PspSubmission, call, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        # Unknown outcome: the retry keeps the key, so an executed request is replayed, not repeated.
        raise GatewayTransientError(f"Stripe did not answer: {type(exc).__name__}.") from exc
    except stripe.APIError as exc:
        # Stripe saves a 5xx under the key and replays it: the retry needs a new key generation.
        _remember(submission, key_generation=submission.key_generation + 1)
        raise GatewayTransientError(f"Stripe failed: {type(exc).__name__}.") from exc
    except stripe.StripeError as exc:
        raise PspRefusal(str(exc.user_message or exc)[:500]) from exc


def _submit_stripe(submission: PspSubmission, dispute: Dispute) -> dict[str, Any]:
    client = _stripe_client()
    fields, files = stripe_evidence_plan(dispute, _evidence(dispute))
    key = f"{dispute.reference}-{dispute.stage}-g{submission.key_generation}"
    uploaded = dict(submission.uploaded_files)
    for file_key, field, name, stored in files:
        if file_key not in uploaded:
            handle = io.BytesIO(_read(stored))
            handle.name = name
            created = _stripe_call(submission, client.v1.files.create,
                                   params={"purpose": "dispute_evidence", "file": handle},
                                   options={"idempotency_key": f"{key}-{file_key}"})
            uploaded[file_key] = created.id
            _remember(submission, uploaded_files=uploaded)  # recorded at once: a re-run never uploads it again
        fields[field] = uploaded[file_key]
    _stripe_call(submission, client.v1.disputes.update, dispute.psp_dispute_id,
                 params={"evidence": fields, "submit": True}, options={"idempotency_key": f"{key}-submit"})
    return fields


def _submit_adyen(submission: PspSubmission, dispute: Dispute) -> dict[str, Any]:
    import Adyen

    from backoffice.gateway.adyen_gateway import adyen_call, adyen_client

    if not getattr(settings, "ADYEN_API_KEY", "") or not getattr(settings, "ADYEN_MERCHANT_ACCOUNT", ""):
        raise PspRefusal("ADYEN_API_KEY / ADYEN_MERCHANT_ACCOUNT are not set: nothing was sent to Adyen.")
    client = adyen_client()
    base = {"merchantAccountCode": settings.ADYEN_MERCHANT_ACCOUNT, "disputePspReference": dispute.psp_dispute_id}
    reason = getattr(settings, "ADYEN_DEFENSE_REASON_CODE", "SupplyDefenseMaterial")
    sent = {"defenseReasonCode": reason, "defenseDocumentTypeCode": "DefenseMaterial"}

    def call(method, body):
        try:
            answer = adyen_call(method, body)
        except Adyen.AdyenAPIResponseError as exc:
            raise PspRefusal(str(exc.message)[:500]) from exc
        result = answer.get("disputeServiceResult") or {}
        if not result.get("success"):
            raise PspRefusal(str(result.get("errorMessage") or "Adyen refused the request.")[:500])

    if not submission.documents_supplied:
        content = base64.b64encode(_read(dispute.packet)).decode()
        call(client.disputes.disputes_api.supply_defense_document, {**base, "defenseDocuments": [
            {"content": content, "contentType": "application/pdf", "defenseDocumentTypeCode": "DefenseMaterial"}]})
        _remember(submission, documents_supplied=True, uploaded_files={"packet": "DefenseMaterial"})
    call(client.disputes.disputes_api.defend_dispute, {**base, "defenseReasonCode": reason})
    return sent


def dispute_psp_submit(*, dispute_id: int) -> str:
    """Send this cycle's evidence to the PSP once; returns the submission's status ("" when nothing to do).

    Raises ``GatewayTransientError`` when the PSP could not be reached (the task retries)."""
    submission = dispute_psp_submission_start(dispute_id=dispute_id)
    if submission is None:
        return ""
    dispute = Dispute.objects.select_related("payment__customer").get(pk=dispute_id)
    try:
        if submission.psp == "stripe":
            sent = _submit_stripe(submission, dispute)
        elif submission.psp == "adyen":
            sent = _submit_adyen(submission, dispute)
        else:
            sent = {"sandbox": "nothing sent: PAYMENT_GATEWAY is the sandbox"}
    except PspRefusal as refusal:
        return dispute_psp_submission_finish(submission_id=submission.pk, status=PspSubmissionStatus.REFUSED,
                                             error=str(refusal)).status
    sent_fields = {k: (str(v) if len(str(v)) <= 200 else f"{str(v)[:200]}…") for k, v in sent.items()}
    return dispute_psp_submission_finish(submission_id=submission.pk, status=PspSubmissionStatus.SUBMITTED,
                                         sent_fields=sent_fields).status


# A send whose task never ran (the broker was down at commit) or died half-way (the worker was killed and
# the message lost) is found by ``psp_evidence_sweep``: after these quiet periods it is enqueued again. The
# "sending" wait is longer than the task's whole retry chain (about 21 minutes), so a send that is still
# retrying is left alone; a repeat is safe anyway (steps are recorded, PSP calls carry idempotency keys).
SWEEP_UNSENT_AFTER = timedelta(minutes=10)
SWEEP_STALLED_AFTER = timedelta(minutes=30)
SWEEP_LIMIT = 200


def psp_evidence_stalled(*, now: datetime | None = None, limit: int = SWEEP_LIMIT) -> list[int]:
    """Ids of disputes under review whose evidence should be with their PSP but is not: no submission row
    for the current cycle after ``SWEEP_UNSENT_AFTER``, or one stuck pending/sending for
    ``SWEEP_STALLED_AFTER``. Only PSPs the gateway really sends to; one indexed query."""
    now = now or timezone.now()
    psps = [psp for psp in SUBMITTABLE_PSPS if evidence_psp_target(Dispute(psp=psp)) == psp]
    if not psps:
        return []
    this_cycle = PspSubmission.objects.filter(dispute=OuterRef("pk"), stage=OuterRef("stage"))
    stalled = this_cycle.filter(status__in=[PspSubmissionStatus.PENDING, PspSubmissionStatus.SENDING],
                                updated_at__lt=now - SWEEP_STALLED_AFTER)
    rows = (
        Dispute.objects.filter(state=DisputeState.UNDER_REVIEW, psp__in=psps).exclude(packet="")
        .filter((~Exists(this_cycle) & Q(updated_at__lt=now - SWEEP_UNSENT_AFTER)) | Exists(stalled))
        .order_by("updated_at", "pk").values_list("pk", flat=True)[:limit]
    )
    return list(rows)


def psp_evidence_sweep(*, now: datetime | None = None, limit: int = SWEEP_LIMIT) -> list[int]:
    """Enqueue the send again for every stalled dispute (``psp_evidence_stalled``); returns their ids."""
    from .tasks import enqueue_psp_evidence

    ids = psp_evidence_stalled(now=now, limit=limit)
    for dispute_id in ids:
        logger.warning("psp_evidence_resent dispute_id=%s", dispute_id)
        enqueue_psp_evidence(dispute_id)
    return ids


def dispute_psp_submission_give_up(*, dispute_id: int, error: str) -> None:
    """The PSP stayed unreachable through every retry: recorded for a person (who can send it again)."""
    submission = PspSubmission.objects.filter(dispute_id=dispute_id, status=PspSubmissionStatus.SENDING).first()
    if submission is not None:
        dispute_psp_submission_finish(submission_id=submission.pk, status=PspSubmissionStatus.FAILED, error=error)


def dispute_psp_resubmit(*, dispute_id: int, actor: Any) -> PspSubmission:
    """A team lead sends a refused (or failed) submission again, e.g. after fixing the evidence."""
    policy.require("resend_to_psp", actor)
    with transaction.atomic():
        dispute = Dispute.objects.select_for_update().filter(pk=dispute_id).first()
        if dispute is None:
            raise NotFound(f"Dispute {dispute_id} does not exist.")
        submission = PspSubmission.objects.select_for_update().filter(dispute=dispute, stage=dispute.stage).first()
        if submission is None or submission.status not in (PspSubmissionStatus.REFUSED, PspSubmissionStatus.FAILED):
            raise InvalidInput("Only evidence the PSP refused or never received can be sent again.",
                               code="psp_submission_not_resendable")
        # A new key generation: the PSP replays its refusal for the old keys. Uploaded files are kept.
        submission.status, submission.last_error = PspSubmissionStatus.PENDING, ""
        submission.key_generation += 1
        submission.save(update_fields=["status", "last_error", "key_generation", "updated_at"])
        journal_record(case_type=Dispute.CASE_TYPE, case_id=dispute.pk, case_reference=dispute.reference or "",
                       transition="psp_evidence_resend", source=dispute.state, target=dispute.state, actor=actor,
                       context={"psp": submission.psp, "stage": submission.stage})
        psp_evidence_enqueue(dispute.pk)
    return submission
