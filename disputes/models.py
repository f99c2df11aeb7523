"""Chargebacks and disputes: the reason-code catalogue, the dispute case and its evidence.

A dispute's ``state`` changes only through the transitions below, called only by
``disputes.services`` (which lock, check, journal). Transition bodies change fields in memory.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django_fsm import FSMField, transition

from backoffice.cases.models import Case
from invoices.models import Payment

from . import policy

CURRENCY_REGEX = r"^[A-Z]{3}$"


# The card networks are the ledger's (a dispute is on a payment's network): one list.
Network = Payment.Network


# Reason codes filed under this network are the PSP's normalised reasons (Stripe's ``fraudulent``,
# ``product_not_received`` …): they apply to a dispute on any network, e.g. UnionPay or a local scheme.
GENERIC_NETWORK = Network.OTHER


class ReasonCategory(models.TextChoices):
    FRAUD = "fraud", "Fraud"
    AUTHORIZATION = "authorization", "Authorization"
    PROCESSING_ERROR = "processing_error", "Processing error"
    CONSUMER_DISPUTE = "consumer_dispute", "Consumer dispute"


class EvidenceKind(models.TextChoices):
    PROOF_OF_DELIVERY = "proof_of_delivery", "Proof of delivery"
    USAGE_LOGS = "usage_logs", "Usage logs (GPU hours, API calls, logins)"
    CUSTOMER_COMMUNICATION = "customer_communication", "Customer communication"
    AVS_CVV_RESULT = "avs_cvv_result", "AVS / CVV result"
    THREE_D_SECURE = "three_d_secure", "3-D Secure result"
    DEVICE_IP_HISTORY = "device_ip_history", "Device and IP history"
    PRIOR_UNDISPUTED_TRANSACTIONS = "prior_undisputed_transactions", "Prior undisputed transactions"
    TERMS_OF_SERVICE = "terms_of_service", "Terms of service accepted"
    CANCELLATION_POLICY = "cancellation_policy", "Cancellation policy"
    REFUND_POLICY = "refund_policy", "Refund policy"
    REFUND_RECORD = "refund_record", "Refund or credit issued"
    SERVICE_DESCRIPTION = "service_description", "Description of the service sold"
    INVOICE = "invoice", "Invoice"
    DUPLICATE_CHARGE_DOCUMENTATION = "duplicate_charge_documentation", "Duplicate charge documentation"
    AUTHORIZATION_RECORD = "authorization_record", "Authorization record"
    OTHER = "other", "Other"


@dataclass(frozen=True)
class Requirement:
    """One line of a reason code's checklist: satisfied by evidence of any one of ``kinds``."""

    kinds: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Requirement:
        return cls(tuple(part.strip() for part in text.split("|") if part.strip()))

    @property
    def label(self) -> str:
        labels = dict(EvidenceKind.choices)
        return " or ".join(str(labels.get(kind, kind)) for kind in self.kinds)


@dataclass(frozen=True)
class ChecklistLine:
    requirement: Requirement
    satisfied: bool


@dataclass(frozen=True)
class EvidenceChecklist:
    """Which of a reason code's required evidence is present; completeness in percent."""

    lines: tuple[ChecklistLine, ...]

    @property
    def required(self) -> list[str]:
        """Every kind that counts towards a requirement (alternatives included), in catalogue order."""
        seen: list[str] = []
        for line in self.lines:
            seen += [kind for kind in line.requirement.kinds if kind not in seen]
        return seen

    @property
    def missing(self) -> list[str]:
        """The kinds of every unmet requirement (for "a or b", both: either one would do)."""
        seen: list[str] = []
        for line in self.lines:
            if not line.satisfied:
                seen += [kind for kind in line.requirement.kinds if kind not in seen]
        return seen

    @property
    def missing_labels(self) -> list[str]:
        return [line.requirement.label for line in self.lines if not line.satisfied]

    @property
    def complete(self) -> bool:
        return all(line.satisfied for line in self.lines)

    @property
    def percent(self) -> int:
        if not self.lines:
            return 100
        return (100 * sum(1 for line in self.lines if line.satisfied)) // len(self.lines)


def evidence_checklist(requirements: list[str], present_kinds: set[str] | frozenset[str]) -> EvidenceChecklist:
    """Pure: the checklist for catalogue ``requirements`` given the kinds of evidence present."""
    lines = []
    for text in requirements:
        requirement = Requirement.parse(text)
        lines.append(ChecklistLine(requirement, any(kind in present_kinds for kind in requirement.kinds)))
    return EvidenceChecklist(tuple(lines))


class ReasonCode(models.Model):
    """One network reason code with the evidence it needs and the network's response window."""

    network = models.CharField(max_length=16, choices=Network.choices)
    code = models.CharField(max_length=32, help_text='The network\'s code, e.g. "13.1", "4853", "C08".')
    category = models.CharField(max_length=20, choices=ReasonCategory.choices)
    title = models.CharField(max_length=200)
    response_days = models.PositiveSmallIntegerField(
        help_text="Days the merchant has to respond, counted from the notification."
    )
    required_evidence = models.JSONField(
        default=list,
        blank=True,
        help_text='Evidence kinds required; "a|b" means either a or b satisfies the line.',
    )

    class Meta:
        ordering = ["network", "code"]
        constraints = [
            models.UniqueConstraint(fields=["network", "code"], name="reasoncode_network_code_unique"),
            models.CheckConstraint(condition=Q(response_days__gt=0), name="reasoncode_response_days_positive"),
            models.CheckConstraint(condition=~Q(code=""), name="reasoncode_code_present"),
        ]
        indexes = [models.Index(fields=["category"], name="reasoncode_category_idx")]

    def __str__(self) -> str:
        return f"{self.get_network_display()} {self.code} · {self.title}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if not isinstance(self.required_evidence, list) or not all(
            isinstance(item, str) for item in self.required_evidence
        ):
            raise ValidationError({"required_evidence": "A list of evidence kinds (strings)."})
        unknown = sorted(
            {kind for item in self.required_evidence for kind in Requirement.parse(item).kinds}
            - set(EvidenceKind.values)
        )
        if unknown:
            raise ValidationError({"required_evidence": f"Unknown evidence kinds: {', '.join(unknown)}."})

    def checklist(self, present_kinds: set[str] | frozenset[str]) -> EvidenceChecklist:
        return evidence_checklist(list(self.required_evidence or []), present_kinds)


class DisputeState(models.TextChoices):
    INQUIRY = "inquiry", "Inquiry"
    NEEDS_RESPONSE = "needs_response", "Needs response"
    UNDER_REVIEW = "under_review", "Under review"
    WON = "won", "Won"
    LOST = "lost", "Lost"
    ACCEPTED = "accepted", "Accepted"
    EXPIRED = "expired", "Expired"
    CLOSED = "closed", "Closed"


class DisputeStage(models.TextChoices):
    INQUIRY = "inquiry", "Inquiry"
    CHARGEBACK = "chargeback", "Chargeback"
    PRE_ARBITRATION = "pre_arbitration", "Pre-arbitration"
    ARBITRATION = "arbitration", "Arbitration"


# The stage a reopened dispute moves to; nothing follows arbitration.
NEXT_STAGE = {
    DisputeStage.CHARGEBACK: DisputeStage.PRE_ARBITRATION,
    DisputeStage.PRE_ARBITRATION: DisputeStage.ARBITRATION,
}
OPEN_STATES = (DisputeState.INQUIRY, DisputeState.NEEDS_RESPONSE)
EVIDENCE_OPEN_STATES = (DisputeState.INQUIRY, DisputeState.NEEDS_RESPONSE)
RESOLVED_STATES = (
    DisputeState.WON, DisputeState.LOST, DisputeState.ACCEPTED, DisputeState.EXPIRED, DisputeState.CLOSED,
)
# For the payment's money (``invoices.ledger``): the amount is gone, or the network may still take it.
# Expired counts as lost (DOMAIN.md: no response in time = lost): the network keeps the money.
LOST_STATES = (DisputeState.LOST, DisputeState.ACCEPTED, DisputeState.EXPIRED)
UNDECIDED_STATES = (DisputeState.INQUIRY, DisputeState.NEEDS_RESPONSE, DisputeState.UNDER_REVIEW)
WON_STATES = (DisputeState.WON,)
# Decided by the network after a defence: what the dashboard's win rate divides by.
FOUGHT_STATES = (DisputeState.WON, DisputeState.LOST)


def packet_upload_to(instance: Dispute, filename: str) -> str:
    return f"disputes/packets/{timezone.now():%Y/%m}/{uuid.uuid4().hex}.pdf"


def evidence_upload_to(instance: EvidenceItem, filename: str) -> str:
    """Stored under a generated name; the user's file name is kept only as metadata."""
    suffix = PurePosixPath(filename).suffix.lower()[:10]
    return f"disputes/evidence/{timezone.now():%Y/%m}/{uuid.uuid4().hex}{suffix}"


class Dispute(Case):
    REFERENCE_PREFIX = "DSP"
    CASE_TYPE = "dispute"
    PUBLIC_TRANSITIONS = (
        "open_chargeback", "close_inquiry", "submit_evidence", "accept", "mark_won", "mark_lost", "reopen",
    )
    SYSTEM_TRANSITIONS = ("expire",)

    State = DisputeState
    Stage = DisputeStage
    # The outcomes the core's reports count, read through the case registry (``spec.model``) so the core
    # never spells a dispute state: won, or lost (``LOST_STATES``); ``closed`` (an inquiry that never
    # became a chargeback) is no outcome.
    WON_STATES = WON_STATES
    LOST_STATES = LOST_STATES
    FOUGHT_STATES = FOUGHT_STATES

    payment = models.ForeignKey("invoices.Payment", on_delete=models.PROTECT, related_name="disputes")
    amount_minor = models.BigIntegerField(help_text="Disputed amount in minor units of ``currency``.")
    currency = models.CharField(max_length=3, help_text="ISO 4217; may differ from the payment's.")
    network = models.CharField(max_length=16, choices=Network.choices)
    reason_code = models.ForeignKey(ReasonCode, on_delete=models.PROTECT, related_name="disputes")
    psp = models.CharField(max_length=16, help_text='The PSP that reported it, e.g. "stripe".')
    psp_dispute_id = models.CharField(max_length=64, help_text="The PSP's dispute id, e.g. dp_1Nx….")
    stage = models.CharField(max_length=16, choices=DisputeStage.choices, default=DisputeStage.CHARGEBACK)
    state = FSMField(default=DisputeState.NEEDS_RESPONSE, choices=DisputeState.choices, protected=True)
    evidence_overridden = models.BooleanField(
        default=False, help_text="Submitted by a team lead with required evidence missing (reason in the journal)."
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True, help_text="When overdue escalation was sent.")
    packet = models.FileField(upload_to=packet_upload_to, max_length=200, blank=True)
    packet_sha256 = models.CharField(max_length=64, blank=True)
    over_captured_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When this dispute was found to push the payment's refunds plus disputes past what it captured.",
    )
    over_captured_minor = models.BigIntegerField(
        null=True, blank=True,
        help_text="By how much (payment currency; null with over_captured_at set: another currency, not comparable).",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="dispute_amount_positive"),
            # "Not above the payment's captured amount" needs the payment row, which a CHECK cannot
            # read: disputes.services.dispute_create enforces it under the payment's lock.
            models.UniqueConstraint(fields=["psp", "psp_dispute_id"], name="dispute_psp_id_unique"),
            models.CheckConstraint(condition=~Q(psp_dispute_id=""), name="dispute_psp_id_present"),
            models.CheckConstraint(condition=Q(currency__regex=CURRENCY_REGEX), name="dispute_currency_iso"),
            models.CheckConstraint(condition=Q(state__in=DisputeState.values), name="dispute_state_valid"),
            models.CheckConstraint(condition=Q(stage__in=DisputeStage.values), name="dispute_stage_valid"),
            # Inquiries (open or closed) are at the inquiry stage; every other state is past it.
            models.CheckConstraint(
                condition=Q(state__in=["inquiry", "closed"], stage="inquiry")
                | (~Q(state__in=["inquiry", "closed"]) & ~Q(stage="inquiry")),
                name="dispute_stage_matches_state",
            ),
            models.CheckConstraint(
                condition=Q(due_at__isnull=True) | Q(internal_due_at__isnull=True)
                | Q(internal_due_at__lte=F("due_at")),
                name="dispute_internal_due_before_due",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "internal_due_at"], name="dispute_state_internal_due_idx"),
            models.Index(fields=["state", "due_at"], name="dispute_state_due_idx"),
            models.Index(fields=["assignee", "state"], name="dispute_assignee_state_idx"),
            models.Index(fields=["internal_due_at", "id"], name="dispute_internal_due_idx"),
            models.Index(fields=["network", "internal_due_at"], name="dispute_network_due_idx"),
            models.Index(fields=["stage", "internal_due_at"], name="dispute_stage_due_idx"),
            models.Index(fields=["reason_code", "internal_due_at"], name="dispute_reason_due_idx"),
            models.Index(fields=["currency", "internal_due_at"], name="dispute_currency_due_idx"),
            models.Index(fields=["created_at"], name="dispute_created_idx"),
            models.Index(fields=["psp_dispute_id"], name="dispute_psp_dispute_id_idx"),
            # One per queue, matching its filter and its (internal_due_at, id) keyset order: open cases only.
            models.Index(fields=["assignee", "internal_due_at", "id"], name="dispute_open_mine_idx",
                         condition=Q(state__in=["inquiry", "needs_response"])),
            models.Index(fields=["internal_due_at", "id"], name="dispute_open_unassigned_idx",
                         condition=Q(state__in=["inquiry", "needs_response"], assignee__isnull=True)),
            models.Index(fields=["internal_due_at", "id"], name="dispute_open_due_idx",
                         condition=Q(state__in=["inquiry", "needs_response"])),
            models.Index(fields=["assignee", "internal_due_at", "id"], name="dispute_assignee_due_idx"),
        ]

    # ---- transitions: in-memory changes only; the service locks, checks, saves and journals ----

    @transition(field=state, source=DisputeState.INQUIRY, target=DisputeState.NEEDS_RESPONSE,
                permission=policy.may_respond)
    def open_chargeback(self, *, stage: str = DisputeStage.CHARGEBACK, due_at=None, internal_due_at=None) -> None:
        self.stage = stage
        self.due_at, self.internal_due_at = due_at, internal_due_at

    @transition(field=state, source=DisputeState.INQUIRY, target=DisputeState.CLOSED, permission=policy.may_respond)
    def close_inquiry(self) -> None:
        self.resolved_at = timezone.now()

    @transition(field=state, source=DisputeState.NEEDS_RESPONSE, target=DisputeState.UNDER_REVIEW,
                permission=policy.may_respond)
    def submit_evidence(self, *, override: bool = False, packet_name: str = "", packet_sha256: str = "") -> None:
        self.evidence_overridden = override
        self.submitted_at = timezone.now()
        self.packet.name = packet_name
        self.packet_sha256 = packet_sha256

    @transition(field=state, source=DisputeState.NEEDS_RESPONSE, target=DisputeState.ACCEPTED,
                permission=policy.may_accept)
    def accept(self) -> None:
        self.resolved_at = timezone.now()

    @transition(field=state, source=DisputeState.NEEDS_RESPONSE, target=DisputeState.EXPIRED,
                permission=policy.may_expire)
    def expire(self) -> None:
        self.resolved_at = timezone.now()

    # From needs_response only the PSP decides (an issuer that withdraws, a PSP that rules without a
    # response): people still decide only disputes under review.
    @transition(field=state, source=[DisputeState.UNDER_REVIEW, DisputeState.NEEDS_RESPONSE],
                target=DisputeState.WON, permission=policy.may_decide_outcome)
    def mark_won(self) -> None:
        self.resolved_at = timezone.now()

    @transition(field=state, source=[DisputeState.UNDER_REVIEW, DisputeState.NEEDS_RESPONSE],
                target=DisputeState.LOST, permission=policy.may_decide_outcome)
    def mark_lost(self) -> None:
        self.resolved_at = timezone.now()

    @transition(field=state, source=[DisputeState.WON, DisputeState.LOST], target=DisputeState.NEEDS_RESPONSE,
                permission=policy.may_reopen)
    def reopen(self, *, stage: str, due_at=None, internal_due_at=None) -> None:
        self.stage = stage
        self.due_at, self.internal_due_at = due_at, internal_due_at
        self.resolved_at = None
        self.submitted_at = None
        self.evidence_overridden = False

    # ---- reads ----

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def is_over_captured(self) -> bool:
        """Flagged: with the payment's refunds, more than was captured (the customer may be paid twice)."""
        return self.over_captured_at is not None

    @property
    def accepts_evidence(self) -> bool:
        return self.state in EVIDENCE_OPEN_STATES

    @property
    def has_stored_packet(self) -> bool:
        """A packet was submitted in the current cycle (a reopened dispute needs a new one)."""
        return bool(self.packet) and self.state not in EVIDENCE_OPEN_STATES


class EvidenceItem(models.Model):
    """A piece of evidence: a kind with text and/or a validated file stored under a generated name."""

    # Indexed by evidence_dispute_kind_idx (dispute first) rather than a separate FK index.
    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="evidence", db_index=False)
    kind = models.CharField(max_length=40, choices=EvidenceKind.choices)
    text = models.TextField(blank=True)
    file = models.FileField(upload_to=evidence_upload_to, max_length=200, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    mime_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveIntegerField(default=0)
    original_name = models.CharField(max_length=255, blank=True)
    stage = models.CharField(max_length=16, choices=DisputeStage.choices, help_text="Dispute stage when added.")
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=EvidenceKind.values), name="evidence_kind_valid"),
            models.CheckConstraint(condition=~Q(text="") | ~Q(file=""), name="evidence_text_or_file"),
            models.CheckConstraint(condition=Q(file="") | ~Q(sha256=""), name="evidence_file_has_sha256"),
        ]
        indexes = [models.Index(fields=["dispute", "kind"], name="evidence_dispute_kind_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on dispute {self.dispute_id}"

    @property
    def is_image(self) -> bool:
        return self.mime_type.startswith("image/")


class CoverLetterTemplate(models.Model):
    """The cover letter a reason code starts from, editable by team leads in the admin.

    ``$customer``, ``$amount``, ``$invoice``, ``$captured``, ``$reason_code``, ``$reason_title``,
    ``$merchant``, ``$prior_payments`` are filled in per dispute; paragraphs are separated by a blank line.
    Without a template for its reason code a dispute starts from the built-in argument for its category.
    """

    reason_code = models.OneToOneField(ReasonCode, on_delete=models.CASCADE, related_name="cover_letter_template")
    body = models.TextField()
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=~Q(body=""), name="coverlettertemplate_body_present")]

    def __str__(self) -> str:
        return f"Cover letter for {self.reason_code}"


class CoverLetter(models.Model):
    """This dispute's cover letter as a specialist edited it (the packet uses it instead of the template)."""

    dispute = models.OneToOneField(Dispute, on_delete=models.CASCADE, related_name="cover_letter")
    body = models.TextField()
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=~Q(body=""), name="coverletter_body_present")]

    def __str__(self) -> str:
        return f"Cover letter of dispute {self.dispute_id}"


class AcceptanceProposal(models.Model):
    """A specialist proposes to accept liability for a dispute; a team lead decides (accept or decline).

    At most one open proposal per dispute. It is in the team leads' approvals queue while open.
    """

    class Decision(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        WITHDRAWN = "withdrawn", "Withdrawn"

    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, related_name="acceptance_proposals")
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    decision = models.CharField(max_length=12, choices=Decision.choices, default=Decision.OPEN)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    decision_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dispute"], condition=Q(decision="open"),
                                    name="acceptanceproposal_one_open_per_dispute"),
            models.CheckConstraint(condition=~Q(reason=""), name="acceptanceproposal_reason_present"),
            models.CheckConstraint(condition=Q(decision="open") | Q(decided_at__isnull=False),
                                   name="acceptanceproposal_decided_has_time"),
        ]
        indexes = [models.Index(fields=["decision", "dispute"], name="acceptproposal_decision_idx")]

    def __str__(self) -> str:
        return f"Proposal to accept dispute {self.dispute_id}"


class PspSubmissionStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENDING = "sending", "Being sent"
    SUBMITTED = "submitted", "Submitted to the PSP"
    REFUSED = "refused", "Refused by the PSP"
    FAILED = "failed", "PSP unreachable"


class PspSubmission(models.Model):
    """The evidence of one dispute cycle (stage) sent to the PSP: once, step by step.

    Each step's result is recorded as soon as the PSP answers (an uploaded file's id, the documents
    supplied, the final submit), so a task that runs twice — a redelivery, a retry after a timeout —
    skips what is done and sends nothing twice; the PSP calls also carry idempotency keys.
    """

    Status = PspSubmissionStatus

    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="psp_submissions")
    stage = models.CharField(max_length=16, choices=DisputeStage.choices)
    psp = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=PspSubmissionStatus.choices, default=PspSubmissionStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    uploaded_files = models.JSONField(default=dict, blank=True, help_text="Our file key → the PSP's file id.")
    documents_supplied = models.BooleanField(default=False)
    key_generation = models.PositiveSmallIntegerField(
        default=1, help_text="Part of the PSP idempotency keys: a new one after a PSP 5xx (Stripe replays a 5xx "
                             "for the same key); timeouts keep it, so an answer we never heard is replayed.")
    sent_fields = models.JSONField(default=dict, blank=True, help_text="The evidence fields sent (no file bytes).")
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dispute", "stage"], name="pspsubmission_dispute_stage_unique"),
            models.CheckConstraint(condition=Q(status__in=PspSubmissionStatus.values),
                                   name="pspsubmission_status_valid"),
        ]
        indexes = [models.Index(fields=["status", "updated_at"], name="pspsubmission_status_idx")]

    def __str__(self) -> str:
        return f"{self.psp} evidence for dispute {self.dispute_id} ({self.stage}): {self.status}"


class ReportImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    VALIDATING = "validating", "Checking every row"
    IMPORTING = "importing", "Importing"
    DONE = "done", "Imported"
    REFUSED = "refused", "Refused: nothing imported"


class DisputeReportImport(models.Model):
    """One upload of a PSP's dispute report (Stripe disputes export, Adyen dispute report CSV).

    Every row is checked first; any bad row refuses the whole file (errors name the rows). A good
    file is applied in one transaction; importing the same file again changes nothing.
    """

    Status = ReportImportStatus

    psp = models.CharField(max_length=16)
    file_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    content = models.BinaryField(help_text="The uploaded CSV as received.")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=ReportImportStatus.choices, default=ReportImportStatus.QUEUED)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text='[{"row": 7, "message": "…"}]')
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(status__in=ReportImportStatus.values),
                                              name="disputereportimport_status_valid")]
        indexes = [models.Index(fields=["created_at"], name="disputereport_created_idx")]

    def __str__(self) -> str:
        return f"{self.psp} dispute report {self.file_name} ({self.status})"

    @property
    def running(self) -> bool:
        return self.status in (ReportImportStatus.QUEUED, ReportImportStatus.VALIDATING, ReportImportStatus.IMPORTING)

    @property
    def percent(self) -> int:
        return 100 if not self.rows_total else min(100, 100 * self.rows_done // self.rows_total)
