"""Refunds: money returned on the merchant's initiative, under maker-checker approval.

A refund's ``state`` changes only through the transitions below, called only by
``refunds.services`` (which lock the payment then the refund, check, journal and enqueue the
PSP submission on commit). Transition bodies change fields in memory and nothing else.
Who may decide is ``refunds.policy``; the permission callables here delegate to it so the
page's buttons, the API and the admin agree.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import RETURN_VALUE, FSMField, transition

from backoffice.cases.models import Case
from backoffice.roles.predicates import is_requester, is_system, is_team_lead, is_worker

CURRENCY_REGEX = r"^[A-Z]{3}$"


class RefundState(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    PENDING_SECOND_APPROVAL = "pending_second_approval", "Pending second approval"
    APPROVED = "approved", "Approved"
    PROCESSING = "processing", "Processing"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


class RefundReason(models.TextChoices):
    DUPLICATE_CHARGE = "duplicate_charge", "Duplicate charge"
    BILLING_ERROR = "billing_error", "Billing error"
    SERVICE_OUTAGE = "service_outage", "Service outage"
    GOODWILL = "goodwill", "Goodwill"
    FRAUD = "fraud", "Fraud"
    CUSTOMER_REQUEST = "customer_request", "Customer request"
    OTHER = "other", "Other"


# Refunds in these states hold no money: they do not count against the payment's refundable amount.
RELEASED_STATES = (RefundState.FAILED, RefundState.REJECTED, RefundState.CANCELLED)
AWAITING_DECISION = (RefundState.PENDING_APPROVAL, RefundState.PENDING_SECOND_APPROVAL)
# Open for the queues (a person still has to act): decisions, and failures a lead must look at.
OPEN_STATES = (RefundState.PENDING_APPROVAL, RefundState.PENDING_SECOND_APPROVAL, RefundState.FAILED)


# ---- permission callables (instance, user) -> bool, checked by run_transition and for the buttons ----

def _may_decide(instance: Refund, user) -> bool:
    from .policy import decision_refusal

    return decision_refusal(refund=instance, user=user) is None


def _requester_or_team_lead(instance: Refund, user) -> bool:
    if is_system(user):
        return False
    return bool(is_team_lead(user) or (is_worker(user) and is_requester(user, instance)))


def _team_lead(instance: Refund, user) -> bool:
    return bool(is_team_lead(user))


def _system(instance: Refund, user) -> bool:
    return bool(is_system(user))


class Refund(Case):
    REFERENCE_PREFIX = "RFD"
    CASE_TYPE = "refund"
    PUBLIC_TRANSITIONS = ("approve", "reject", "cancel", "retry")
    SYSTEM_TRANSITIONS = ("submit", "mark_succeeded", "mark_failed")

    State = RefundState
    Reason = RefundReason

    # Indexed by refund_payment_state_idx (payment first) rather than Django's unnamed FK index.
    payment = models.ForeignKey("invoices.Payment", on_delete=models.PROTECT, related_name="refunds",
                                db_index=False)
    amount_minor = models.BigIntegerField(help_text="Amount to refund in minor units of ``currency``.")
    currency = models.CharField(max_length=3, help_text="ISO 4217, always the payment's currency.")
    reason = models.CharField(max_length=32, choices=RefundReason.choices)
    note = models.TextField(blank=True)
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                  db_index=False)
    idempotency_key = models.CharField(
        max_length=255, null=True, blank=True,
        help_text="The client's Idempotency-Key for the request; unique per requester.",
    )
    psp_refund_id = models.CharField(max_length=64, blank=True, help_text="The PSP's refund id, e.g. re_….")
    psp_attempt = models.PositiveSmallIntegerField(
        default=1, help_text="Submission generation: a team lead's retry after a failure starts the next one.",
    )
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True, help_text="Final approval, rejection or cancellation.")
    submitted_at = models.DateTimeField(null=True, blank=True, help_text="First sent to the PSP.")
    last_psp_attempt_at = models.DateTimeField(null=True, blank=True, help_text="Last call to the PSP.")
    succeeded_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    psp_attempt_started_at = models.DateTimeField(
        null=True, blank=True, help_text="When this submission generation was first sent (the give-up clock).",
    )
    needs_attention_at = models.DateTimeField(
        null=True, blank=True,
        help_text="No final PSP answer in time (or the PSP reported something to check): a team lead looks at it.",
    )
    attention_reason = models.CharField(max_length=300, blank=True)
    credit_note_voided_at = models.DateTimeField(
        null=True, blank=True, help_text="The PSP reported the refund failed after it had succeeded.",
    )
    state = FSMField(default=RefundState.PENDING_APPROVAL, choices=RefundState.choices, protected=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="refund_amount_positive"),
            models.CheckConstraint(condition=Q(currency__regex=CURRENCY_REGEX), name="refund_currency_iso"),
            models.CheckConstraint(condition=Q(state__in=RefundState.values), name="refund_state_valid"),
            models.CheckConstraint(condition=Q(reason__in=RefundReason.values), name="refund_reason_valid"),
            models.CheckConstraint(condition=Q(psp_attempt__gte=1), name="refund_psp_attempt_positive"),
            models.UniqueConstraint(
                fields=["requester", "idempotency_key"], condition=Q(idempotency_key__isnull=False),
                name="refund_requester_idempotency_key_unique",
            ),
            models.UniqueConstraint(fields=["psp_refund_id"], condition=~Q(psp_refund_id=""),
                                    name="refund_psp_refund_id_unique"),
            models.CheckConstraint(condition=~Q(state="succeeded") | ~Q(psp_refund_id=""),
                                   name="refund_succeeded_has_psp_id"),
        ]
        indexes = [
            models.Index(fields=["payment", "state"], name="refund_payment_state_idx"),
            models.Index(fields=["state", "internal_due_at"], name="refund_state_internal_due_idx"),
            models.Index(fields=["state", "due_at"], name="refund_state_due_idx"),
            models.Index(fields=["assignee", "state"], name="refund_assignee_state_idx"),
            models.Index(fields=["requester", "state"], name="refund_requester_state_idx"),
            models.Index(fields=["state", "currency", "amount_minor"], name="refund_approvals_idx"),
            models.Index(fields=["currency", "created_at"], name="refund_currency_created_idx"),
            models.Index(fields=["state", "last_psp_attempt_at"], name="refund_state_psp_attempt_idx"),
            models.Index(fields=["created_at", "id"], name="refund_created_idx"),
            # Every refund by internal due date (the "all" queue's default order); the open-only ones cannot serve it.
            models.Index(fields=["internal_due_at", "id"], name="refund_internal_due_idx"),
            # Queue indexes: open refunds (pending decisions and failures) by internal due date, the
            # approvals queue (pending decisions) newest first, as their keyset orders read them.
            models.Index(fields=["assignee", "internal_due_at", "id"], name="refund_open_mine_idx",
                         condition=Q(state__in=["pending_approval", "pending_second_approval", "failed"])),
            models.Index(fields=["internal_due_at", "id"], name="refund_open_unassigned_idx",
                         condition=Q(state__in=["pending_approval", "pending_second_approval", "failed"],
                                     assignee__isnull=True)),
            models.Index(fields=["internal_due_at", "id"], name="refund_open_due_idx",
                         condition=Q(state__in=["pending_approval", "pending_second_approval", "failed"])),
            models.Index(fields=["created_at", "id"], name="refund_awaiting_created_idx",
                         condition=Q(state__in=["pending_approval", "pending_second_approval"])),
            models.Index(fields=["needs_attention_at"], name="refund_needs_attention_idx",
                         condition=Q(needs_attention_at__isnull=False)),
        ]

    # ---- transitions: in-memory changes only; refunds.services locks, checks, saves and journals ----

    @transition(field=state, source=list(AWAITING_DECISION),
                target=RETURN_VALUE(RefundState.PENDING_SECOND_APPROVAL, RefundState.APPROVED),
                permission=_may_decide)
    def approve(self, *, needs_second_approval: bool = False) -> str:
        """First approval at or above the dual threshold waits for a second approver; otherwise approved."""
        if self.state == RefundState.PENDING_APPROVAL and needs_second_approval:
            return RefundState.PENDING_SECOND_APPROVAL
        self.approved_at = self.decided_at = timezone.now()
        return RefundState.APPROVED

    @transition(field=state, source=list(AWAITING_DECISION), target=RefundState.REJECTED, permission=_may_decide)
    def reject(self) -> None:
        self.decided_at = timezone.now()

    @transition(field=state, source=[*AWAITING_DECISION, RefundState.APPROVED], target=RefundState.CANCELLED,
                permission=_requester_or_team_lead)
    def cancel(self) -> None:
        self.decided_at = timezone.now()

    @transition(field=state, source=RefundState.APPROVED, target=RefundState.PROCESSING, permission=_system)
    def submit(self) -> None:
        now = timezone.now()
        self.needs_attention_at, self.attention_reason = None, ""  # a held submission that fits again
        self.submitted_at = self.submitted_at or now
        self.psp_attempt_started_at = now
        self.last_psp_attempt_at = now

    @transition(field=state, source=RefundState.PROCESSING, target=RefundState.SUCCEEDED, permission=_system)
    def mark_succeeded(self, *, psp_refund_id: str) -> None:
        self.psp_refund_id = psp_refund_id
        self.failure_code = self.failure_message = ""
        self.succeeded_at = timezone.now()

    # From succeeded too: the PSP may report a refund failed after it had succeeded (refund.failed,
    # REFUND_FAILED, REFUNDED_REVERSED). Its credit note is then voided; succeeded_at stays as issued.
    @transition(field=state, source=[RefundState.PROCESSING, RefundState.SUCCEEDED], target=RefundState.FAILED,
                permission=_system)
    def mark_failed(self, *, failure_code: str, failure_message: str = "", psp_refund_id: str = "") -> None:
        if self.state == RefundState.SUCCEEDED:
            self.credit_note_voided_at = timezone.now()
        self.failure_code = failure_code[:64]
        self.failure_message = failure_message[:500]
        if psp_refund_id:
            self.psp_refund_id = psp_refund_id
        self.failed_at = timezone.now()

    @transition(field=state, source=RefundState.FAILED, target=RefundState.PROCESSING, permission=_team_lead)
    def retry(self) -> None:
        """A new submission generation: the PSP sees a new idempotency key (the failed one stays failed)."""
        self.psp_attempt += 1
        self.psp_refund_id = ""
        self.failure_code = self.failure_message = ""
        self.failed_at = None
        self.needs_attention_at = None
        self.attention_reason = ""
        self.last_psp_attempt_at = self.psp_attempt_started_at = timezone.now()

    # ---- reads ----

    @property
    def psp_idempotency_key(self) -> str:
        """The key every PSP call of this submission generation carries: transient retries reuse it."""
        return self.reference if self.psp_attempt == 1 else f"{self.reference}-attempt-{self.psp_attempt}"

    @property
    def is_awaiting_decision(self) -> bool:
        return self.state in AWAITING_DECISION


class ApprovalDecision(models.TextChoices):
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class RefundApproval(models.Model):
    """One decision on a refund: who, when, which step (1 first, 2 second approval), why."""

    Decision = ApprovalDecision

    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    step = models.PositiveSmallIntegerField()
    decision = models.CharField(max_length=16, choices=ApprovalDecision.choices)
    reason = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["refund", "step"]
        constraints = [
            models.UniqueConstraint(fields=["refund", "step"], name="refundapproval_refund_step_unique"),
            models.UniqueConstraint(fields=["refund", "approver"], name="refundapproval_refund_approver_unique"),
            models.CheckConstraint(condition=Q(step__in=[1, 2]), name="refundapproval_step_1_or_2"),
            models.CheckConstraint(condition=Q(decision__in=ApprovalDecision.values),
                                   name="refundapproval_decision_valid"),
            models.CheckConstraint(condition=~Q(reason=""), name="refundapproval_reason_present"),
        ]
        indexes = [models.Index(fields=["approver", "created_at"], name="refundapproval_approver_idx")]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} (step {self.step}) by {self.approver_id} on refund {self.refund_id}"
