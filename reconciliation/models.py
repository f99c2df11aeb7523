"""Reconciliation: PSP settlement reports against our ledger, and the breaks found between them.

A ``SettlementImport`` is one PSP report file (Stripe's itemized balance-change report, Adyen's
settlement details report), imported once; its ``SettlementLine`` rows are matched to our payments,
refunds and disputes. What does not agree becomes a ``Break``: a case like a dispute or a refund,
worked in the queues and changed only through ``reconciliation.services`` (which call the shared
transition service). Who may approve a write-off is ``reconciliation.policy``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import FSMField, transition

from backoffice.actors import SystemActor
from backoffice.cases.models import Case
from backoffice.roles.models import Role
from backoffice.roles.predicates import is_system, is_worker

CURRENCY_REGEX = r"^[A-Z]{3}$"

# The actor of everything the matching does by itself (opening breaks, closing them when a later report settles).
RECONCILIATION = SystemActor("system:reconciliation")


class Psp(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    ADYEN = "adyen", "Adyen"


class LineKind(models.TextChoices):
    CHARGE = "charge", "Charge"
    REFUND = "refund", "Refund"
    DISPUTE = "dispute", "Dispute"
    DISPUTE_REVERSAL = "dispute_reversal", "Dispute reversal"
    FEE = "fee", "Fee"
    PAYOUT = "payout", "Payout"
    OTHER = "other", "Other"


class LineMatch(models.TextChoices):
    MATCHED = "matched", "Matched"
    BREAK = "break", "Break"
    NOT_MATCHED = "none", "Not matched (fees, payouts, other)"


class BreakKind(models.TextChoices):
    MISSING_IN_LEDGER = "missing_in_ledger", "Settled at the PSP, missing in our ledger"
    NOT_SETTLED = "not_settled", "In our ledger, not settled by the PSP"
    AMOUNT_MISMATCH = "amount_mismatch", "Amount differs"
    CURRENCY_MISMATCH = "currency_mismatch", "Currency differs"
    REFUND_MISMATCH = "refund_mismatch", "Refund at one side only"
    DISPUTE_MISMATCH = "dispute_mismatch", "Dispute at one side only"
    DUPLICATE = "duplicate", "Settled twice"
    FEE_OUT_OF_BAND = "fee_out_of_band", "Fee outside the expected band"
    PAYOUT_MISMATCH = "payout_mismatch", "Payout does not add up"


class BreakState(models.TextChoices):
    OPEN = "open", "Open"
    INVESTIGATING = "investigating", "Investigating"
    WRITE_OFF_REQUESTED = "write_off_requested", "Write-off requested"
    RESOLVED = "resolved", "Resolved"
    WRITTEN_OFF = "written_off", "Written off"
    AUTO_RESOLVED = "auto_resolved", "Auto-resolved"


class Resolution(models.TextChoices):
    CORRECTED_IN_LEDGER = "corrected_in_ledger", "Corrected in the ledger"
    PSP_CORRECTED = "psp_corrected", "The PSP corrected it"
    TIMING_DIFFERENCE = "timing_difference", "Timing difference"


OPEN_STATES = (BreakState.OPEN, BreakState.INVESTIGATING, BreakState.WRITE_OFF_REQUESTED)
# Kinds a later report can settle by itself: the missing side turns up.
AUTO_RESOLVABLE = (BreakKind.NOT_SETTLED, BreakKind.MISSING_IN_LEDGER, BreakKind.REFUND_MISMATCH,
                   BreakKind.DISPUTE_MISMATCH)


def _ledger_link(model: str) -> models.ForeignKey:
    """What a settlement line or a break is about in our ledger, when known (no automatic index: each model
    declares the partial indexes it needs)."""
    return models.ForeignKey(model, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False)


class SettlementImport(models.Model):
    """One PSP report file, imported whole or not at all, and only once (its hash; its batch or payout id)."""

    psp = models.CharField(max_length=16, choices=Psp.choices)
    file_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    batch_id = models.CharField(max_length=64, blank=True,
                                help_text="Adyen's Batch Number or Stripe's payout id when the file holds one.")
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    source = models.CharField(max_length=32, help_text="upload, api, command or folder")
    line_count = models.PositiveIntegerField(default=0)
    matchable_count = models.PositiveIntegerField(default=0, help_text="Charge, refund and dispute lines.")
    matched_count = models.PositiveIntegerField(default=0)
    break_count = models.PositiveIntegerField(default=0, help_text="Breaks this import opened.")
    auto_resolved_count = models.PositiveIntegerField(default=0, help_text="Breaks this import closed.")
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["psp", "sha256"], name="settlementimport_file_once"),
            models.UniqueConstraint(fields=["psp", "batch_id"], condition=~Q(batch_id=""),
                                    name="settlementimport_batch_once"),
            models.CheckConstraint(condition=Q(psp__in=Psp.values), name="settlementimport_psp_valid"),
        ]
        indexes = [models.Index(fields=["created_at", "id"], name="stimport_created_idx")]

    def __str__(self) -> str:
        return f"{self.get_psp_display()} report {self.file_name}"

    @property
    def match_rate(self) -> float | None:
        """Matched ÷ lines that can match (charges, refunds, disputes), in percent."""
        if not self.matchable_count:
            return None
        return round(100 * self.matched_count / self.matchable_count, 1)


class UploadStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Checking and importing"
    DONE = "done", "Imported"
    REFUSED = "refused", "Refused"


def settlement_upload_to(instance: SettlementUpload, filename: str) -> str:
    """Stored under a generated name; the uploaded name is kept only as ``file_name``."""
    import uuid

    return f"settlement-uploads/{timezone.now():%Y/%m}/{uuid.uuid4().hex}.csv"


class SettlementUpload(models.Model):
    """A report a team lead uploaded on the page: stored, then imported by a task that reports its progress."""

    Status = UploadStatus

    psp = models.CharField(max_length=16, choices=Psp.choices)
    file = models.FileField(upload_to=settlement_upload_to, max_length=200)
    file_name = models.CharField(max_length=255)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=UploadStatus.choices, default=UploadStatus.QUEUED)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=1000, blank=True)
    errors = models.JSONField(default=list, blank=True, help_text='[{"row": 7, "message": "…"}]')
    settlement_import = models.ForeignKey(SettlementImport, null=True, blank=True, on_delete=models.PROTECT,
                                          related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(status__in=UploadStatus.values),
                                              name="settlementupload_status_valid")]
        indexes = [models.Index(fields=["created_at"], name="settlementupload_created_idx")]

    def __str__(self) -> str:
        return f"{self.get_psp_display()} upload {self.file_name} ({self.status})"

    @property
    def running(self) -> bool:
        return self.status in (UploadStatus.QUEUED, UploadStatus.RUNNING)


class SettlementLine(models.Model):
    """One line of a settlement report, amounts signed as the PSP reports them (a refund's gross is negative)."""

    settlement_import = models.ForeignKey(SettlementImport, on_delete=models.PROTECT, related_name="lines",
                                          db_index=False)
    row = models.PositiveIntegerField(help_text="Row in the file (1 is the header).")
    psp = models.CharField(max_length=16, choices=Psp.choices)
    kind = models.CharField(max_length=20, choices=LineKind.choices)
    psp_reference = models.CharField(max_length=64, blank=True,
                                     help_text="The PSP's id of what moved: charge, refund, dispute or payout.")
    payment_reference = models.CharField(max_length=64, blank=True, help_text="The payment (charge) it belongs to.")
    merchant_reference = models.CharField(max_length=80, blank=True)
    transaction_id = models.CharField(max_length=64, blank=True, help_text="Stripe's balance transaction id.")
    payout_id = models.CharField(max_length=64, blank=True)
    gross_minor = models.BigIntegerField()
    fee_minor = models.BigIntegerField(default=0)
    net_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    occurred_at = models.DateTimeField()
    match = models.CharField(max_length=8, choices=LineMatch.choices, default=LineMatch.NOT_MATCHED)
    payment = _ledger_link("invoices.Payment")
    refund = _ledger_link("refunds.Refund")
    dispute = _ledger_link("disputes.Dispute")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["settlement_import", "row"], name="settlementline_row_once"),
            models.CheckConstraint(condition=Q(currency__regex=CURRENCY_REGEX), name="settlementline_currency_iso"),
            models.CheckConstraint(condition=Q(kind__in=LineKind.values), name="settlementline_kind_valid"),
            models.CheckConstraint(condition=Q(match__in=LineMatch.values), name="settlementline_match_valid"),
        ]
        indexes = [
            models.Index(fields=["psp", "payment_reference", "kind"], name="stline_payment_ref_idx"),
            models.Index(fields=["psp", "psp_reference"], name="stline_psp_ref_idx"),
            models.Index(fields=["payment"], name="stline_payment_idx", condition=Q(payment__isnull=False)),
            models.Index(fields=["refund"], name="stline_refund_idx", condition=Q(refund__isnull=False)),
            models.Index(fields=["settlement_import", "match"], name="stline_import_match_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.psp} {self.kind} {self.psp_reference or self.payment_reference} (row {self.row})"


class WriteOffLimit(models.Model):
    """The most a role may write off in one currency (minor units). No row means refused (fail closed)."""

    role = models.CharField(max_length=32, choices=Role.choices)
    currency = models.CharField(max_length=3)
    limit_minor = models.BigIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["role", "currency"], name="writeofflimit_role_currency_unique"),
            models.CheckConstraint(condition=Q(limit_minor__gte=0), name="writeofflimit_non_negative"),
            models.CheckConstraint(condition=Q(currency__regex=CURRENCY_REGEX), name="writeofflimit_currency_iso"),
        ]
        ordering = ["currency", "role"]

    def __str__(self) -> str:
        return f"{self.get_role_display()} writes off ≤ {self.limit_minor} {self.currency} (minor units)"


# ---- permission callables (instance, user) -> bool, checked by run_transition and for the buttons ----

def _worker(instance: Break, user) -> bool:
    return bool(not is_system(user) and is_worker(user))


def _may_decide_write_off(instance: Break, user) -> bool:
    from .policy import write_off_refusal

    return write_off_refusal(brk=instance, user=user) is None


def _reconciliation(instance: Break, user) -> bool:
    return bool(is_system(user) and getattr(user, "label", "") == RECONCILIATION.label)


class Break(Case):
    """A disagreement between a PSP's settlement report and our ledger, worked like any case.

    ``amount_minor`` is what is at stake in ``currency``: the unmatched line's or ledger item's amount,
    the difference for amount mismatches and payouts, the fee for fees out of band.
    """

    REFERENCE_PREFIX = "BRK"
    CASE_TYPE = "break"
    PUBLIC_TRANSITIONS = ("investigate", "resolve", "request_write_off", "approve_write_off", "reject_write_off")
    SYSTEM_TRANSITIONS = ("auto_resolve",)

    State = BreakState
    Kind = BreakKind

    kind = models.CharField(max_length=24, choices=BreakKind.choices)
    psp = models.CharField(max_length=16, choices=Psp.choices)
    psp_reference = models.CharField(max_length=64, help_text="The PSP's id the break is about (charge, refund, "
                                                              "dispute or payout).")
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    expected_minor = models.BigIntegerField(null=True, blank=True, help_text="What our ledger says.")
    reported_minor = models.BigIntegerField(null=True, blank=True, help_text="What the PSP reported.")
    detail = models.CharField(max_length=500, blank=True)
    settlement_import = models.ForeignKey(SettlementImport, null=True, blank=True, on_delete=models.PROTECT,
                                          related_name="breaks", db_index=False)
    line = models.ForeignKey(SettlementLine, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                             db_index=False)
    payment = _ledger_link("invoices.Payment")
    refund = _ledger_link("refunds.Refund")
    dispute = _ledger_link("disputes.Dispute")
    resolution = models.CharField(max_length=24, choices=Resolution.choices, blank=True)
    write_off_reason = models.TextField(blank=True)
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+", db_index=False, help_text="Who asked for the write-off.")
    write_off_requested_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by_import = models.ForeignKey(SettlementImport, null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="closed_breaks", db_index=False)
    state = FSMField(default=BreakState.OPEN, choices=BreakState.choices, protected=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="break_amount_positive"),
            models.CheckConstraint(condition=Q(currency__regex=CURRENCY_REGEX), name="break_currency_iso"),
            models.CheckConstraint(condition=Q(state__in=BreakState.values), name="break_state_valid"),
            models.CheckConstraint(condition=Q(kind__in=BreakKind.values), name="break_kind_valid"),
            models.CheckConstraint(condition=~Q(state="resolved") | ~Q(resolution=""),
                                   name="break_resolved_has_resolution"),
            models.CheckConstraint(condition=~Q(state="written_off") | ~Q(write_off_reason=""),
                                   name="break_written_off_has_reason"),
            # One break per kind and PSP id: a second report of the same discrepancy is not a second break.
            models.UniqueConstraint(fields=["kind", "psp", "psp_reference"], name="break_found_once"),
        ]
        indexes = [
            models.Index(fields=["psp", "psp_reference", "state"], name="break_psp_ref_state_idx"),
            models.Index(fields=["psp_reference"], name="break_psp_reference_idx"),  # search by PSP id
            models.Index(fields=["state", "kind", "created_at"], name="break_state_kind_idx"),
            models.Index(fields=["state", "currency", "amount_minor"], name="break_state_amount_idx"),
            models.Index(fields=["state", "internal_due_at"], name="break_state_due_idx"),
            models.Index(fields=["assignee", "state"], name="break_assignee_state_idx"),
            models.Index(fields=["created_at", "id"], name="break_created_idx"),
            models.Index(fields=["assignee", "internal_due_at", "id"], name="break_open_mine_idx",
                         condition=Q(state__in=["open", "investigating", "write_off_requested"])),
            models.Index(fields=["internal_due_at", "id"], name="break_open_due_idx",
                         condition=Q(state__in=["open", "investigating", "write_off_requested"])),
            models.Index(fields=["created_at", "id"], name="break_open_created_idx",
                         condition=Q(state__in=["open", "investigating", "write_off_requested"])),
            models.Index(fields=["payment"], name="break_payment_idx", condition=Q(payment__isnull=False)),
        ]

    # ---- transitions: in-memory changes only; reconciliation.services locks, checks, saves and journals ----

    @transition(field=state, source=BreakState.OPEN, target=BreakState.INVESTIGATING, permission=_worker)
    def investigate(self) -> None:
        pass

    @transition(field=state, source=BreakState.INVESTIGATING, target=BreakState.RESOLVED, permission=_worker)
    def resolve(self, *, resolution: str) -> None:
        self.resolution = resolution
        self.closed_at = timezone.now()

    @transition(field=state, source=BreakState.INVESTIGATING, target=BreakState.WRITE_OFF_REQUESTED,
                permission=_worker)
    def request_write_off(self, *, requester, reason: str) -> None:
        self.requester = requester
        self.write_off_reason = reason
        self.write_off_requested_at = timezone.now()

    @transition(field=state, source=BreakState.WRITE_OFF_REQUESTED, target=BreakState.WRITTEN_OFF,
                permission=_may_decide_write_off)
    def approve_write_off(self) -> None:
        self.closed_at = timezone.now()

    @transition(field=state, source=BreakState.WRITE_OFF_REQUESTED, target=BreakState.INVESTIGATING,
                permission=_may_decide_write_off)
    def reject_write_off(self) -> None:
        self.write_off_requested_at = None

    @transition(field=state, source=list(OPEN_STATES), target=BreakState.AUTO_RESOLVED, permission=_reconciliation)
    def auto_resolve(self, *, settlement_import_id: int | None = None) -> None:
        self.closed_by_import_id = settlement_import_id
        self.closed_at = timezone.now()

    # ---- reads ----

    @property
    def age_days(self) -> int:
        end = self.closed_at or timezone.now()
        return max(0, (end - self.created_at).days) if self.created_at else 0

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class WriteOffDecision(models.Model):
    """A team lead's (or within limits, a colleague's) decision on a write-off request."""

    brk = models.ForeignKey(Break, on_delete=models.PROTECT, related_name="decisions")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved = models.BooleanField()
    reason = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["brk", "created_at"]
        constraints = [models.CheckConstraint(condition=~Q(reason=""), name="writeoffdecision_reason_present")]

    def __str__(self) -> str:
        return f"{'Approved' if self.approved else 'Rejected'} by {self.approver_id} on break {self.brk_id}"
