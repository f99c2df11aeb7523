"""The billing ledger the cases work on: customers, invoices with their lines, and payments;
and the payment extension (promise to pay) case that moves an invoice's due date.

Amounts are integers in minor units with an ISO 4217 ``currency`` (see ``backoffice.money``).
Rows are written by ``invoices.services`` (or the demo seed), never by views or the admin.
What an invoice has been paid is derived from its payments (``selectors.invoice_paid_minor``),
never stored twice. What must never be false is a database constraint, so a bad import or a
raw write is refused by PostgreSQL and SQLite alike.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django_fsm import FSMField, transition

from backoffice.cases.models import Case
from backoffice.roles.predicates import is_system

from .policy import may_cancel, may_decide

CURRENCY_REGEX = r"^[A-Z]{3}$"
COUNTRY_REGEX = r"^[A-Z]{2}$"
LAST4_REGEX = r"^[0-9]{4}$"

currency_validator = RegexValidator(CURRENCY_REGEX, "Use a three-letter upper-case ISO 4217 code, e.g. USD.")
country_validator = RegexValidator(COUNTRY_REGEX, "Use a two-letter upper-case ISO 3166 country code, e.g. KZ.")
last4_validator = RegexValidator(LAST4_REGEX, "Only the last four digits of the card, e.g. 4242.")


def currency_field(**kwargs) -> models.CharField:
    return models.CharField(max_length=3, validators=[currency_validator], **kwargs)


class Customer(models.Model):
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    country = models.CharField(max_length=2, validators=[country_validator], help_text="ISO 3166 alpha-2.")
    default_currency = currency_field(help_text="ISO 4217; new invoices are issued in it.")
    external_id = models.CharField(max_length=64, unique=True, help_text="The billing system's id.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(default_currency__regex=CURRENCY_REGEX), name="customer_currency_iso"),
            models.CheckConstraint(condition=Q(country__regex=COUNTRY_REGEX), name="customer_country_iso"),
        ]
        indexes = [models.Index(fields=["name"], name="customer_name_idx")]

    def __str__(self) -> str:
        return self.name


class Invoice(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        OVERDUE = "overdue", "Overdue"
        PAID = "paid", "Paid"
        VOID = "void", "Void"

    # The composite indexes below lead with these keys, so no separate single-column FK index.
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices", db_index=False)
    number = models.CharField(max_length=32, unique=True, help_text='e.g. "INV-2026-000123".')
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    currency = currency_field()
    amount_minor = models.BigIntegerField(default=0, help_text="Total of the lines, in minor units.")
    issued_at = models.DateTimeField()
    due_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True, help_text="When the invoice became fully paid.")
    dunning_paused = models.BooleanField(
        default=False, help_text="Reminders and suspension are on hold (e.g. an approved extension)."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gte=0), name="invoice_amount_not_negative"),
            models.CheckConstraint(condition=Q(currency__regex=CURRENCY_REGEX), name="invoice_currency_iso"),
            models.CheckConstraint(condition=Q(due_at__gte=models.F("issued_at")), name="invoice_due_after_issue"),
            models.CheckConstraint(
                condition=Q(status="paid", paid_at__isnull=False) | ~Q(status="paid"),
                name="invoice_paid_has_paid_at",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_at"], name="invoice_status_due_idx"),
            models.Index(fields=["customer", "due_at"], name="invoice_customer_due_idx"),
        ]

    def __str__(self) -> str:
        return self.number


class InvoiceLine(models.Model):
    class Kind(models.TextChoices):
        SUBSCRIPTION = "subscription", "Subscription"
        USAGE = "usage", "Usage"
        ONE_OFF = "one_off", "One-off"
        CREDIT = "credit", "Credit"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    description = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    quantity = models.DecimalField(max_digits=18, decimal_places=6, help_text="e.g. 731.25 GPU-hours.")
    unit = models.CharField(max_length=32, blank=True, help_text='e.g. "GPU-hour", "1k API calls".')
    unit_price_minor = models.BigIntegerField(help_text="Price of one unit in minor units (negative for credits).")
    amount_minor = models.BigIntegerField(help_text="quantity × unit price, rounded half up, in minor units.")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="invoiceline_quantity_positive"),
            models.CheckConstraint(
                condition=(Q(kind="credit") & Q(amount_minor__lte=0)) | (~Q(kind="credit") & Q(amount_minor__gte=0)),
                name="invoiceline_amount_sign_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.description


class Payment(models.Model):
    """Money captured by a PSP against an invoice. Card data is the network and last 4 digits only."""

    class Psp(models.TextChoices):
        STRIPE = "stripe", "Stripe"
        ADYEN = "adyen", "Adyen"
        SANDBOX = "sandbox", "Sandbox"

    class Method(models.TextChoices):
        CARD = "card", "Card"
        BANK_TRANSFER = "bank_transfer", "Bank transfer"
        WALLET = "wallet", "Wallet"
        LOCAL = "local", "Local method"

    class Network(models.TextChoices):
        VISA = "visa", "Visa"
        MASTERCARD = "mastercard", "Mastercard"
        AMEX = "amex", "American Express"
        DISCOVER = "discover", "Discover"
        JCB = "jcb", "JCB"
        UNIONPAY = "unionpay", "UnionPay"
        OTHER = "other", "Other"

    # Indexed by the named indexes in Meta rather than Django's unnamed FK indexes.
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payments", db_index=False)
    psp = models.CharField(max_length=16, choices=Psp.choices)
    psp_reference = models.CharField(max_length=64, help_text="The PSP's charge / payment id.")
    method = models.CharField(max_length=16, choices=Method.choices)
    method_detail = models.CharField(
        max_length=32,
        blank=True,
        help_text='The specific method, e.g. "kaspi", "payme", "sepa_debit", "apple_pay".',
    )
    network = models.CharField(max_length=16, choices=Network.choices, blank=True, help_text="Card payments only.")
    card_last4 = models.CharField(
        max_length=4,
        blank=True,
        validators=[last4_validator],
        help_text="Last four digits only; never a PAN.",
    )
    amount_minor = models.BigIntegerField(help_text="Captured amount in minor units.")
    currency = currency_field()
    captured_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="payment_amount_positive"),
            models.UniqueConstraint(fields=["psp", "psp_reference"], name="payment_psp_reference_unique"),
            models.CheckConstraint(condition=~Q(psp_reference=""), name="payment_psp_reference_present"),
            models.CheckConstraint(condition=Q(currency__regex=CURRENCY_REGEX), name="payment_currency_iso"),
            models.CheckConstraint(
                condition=Q(card_last4="") | Q(card_last4__regex=LAST4_REGEX),
                name="payment_card_last4_digits",
            ),
            models.CheckConstraint(
                condition=Q(method="card") | (Q(network="") & Q(card_last4="")),
                name="payment_card_fields_only_for_cards",
            ),
        ]
        indexes = [
            models.Index(fields=["invoice"], name="payment_invoice_idx"),
            models.Index(fields=["customer", "captured_at"], name="payment_customer_captured_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.psp}:{self.psp_reference}"


# ---- Payment extensions (promise to pay) ---------------------------------------------------------


class ExtensionState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    FULFILLED = "fulfilled", "Fulfilled"
    BROKEN = "broken", "Broken"


EXTENSION_OPEN_STATES = (ExtensionState.REQUESTED, ExtensionState.APPROVED)
# For reports: a granted promise was kept (fulfilled) or broken; every granted one deferred its invoice.
EXTENSION_KEPT_STATES = (ExtensionState.FULFILLED,)
EXTENSION_BROKEN_STATES = (ExtensionState.BROKEN,)
EXTENSION_GRANTED_STATES = (ExtensionState.APPROVED, ExtensionState.FULFILLED, ExtensionState.BROKEN)


def promise_deadline(new_due_date: date) -> datetime:
    """The last instant a promise covers: 23:59:59.999999 UTC on its new due date.

    Paid in full at or before it, the promise was kept (``fulfil``); not, it was broken.
    """
    return datetime.combine(new_due_date, time.max, tzinfo=UTC)


def utc_date(moment: datetime) -> date:
    """The calendar date of ``moment`` in UTC (due dates and promises are counted in UTC days)."""
    return moment.astimezone(UTC).date()


# Permission callables (instance, user) -> bool, checked by backoffice.cases.transitions.run_transition;
# who may decide is invoices.policy (the services refuse its finer rules with their specific codes).
def _may_decide(instance: PaymentExtension, user) -> bool:
    return may_decide(user)


def _may_cancel(instance: PaymentExtension, user) -> bool:
    return may_cancel(instance, user)


def _system(instance: PaymentExtension, user) -> bool:
    return bool(is_system(user))


class PaymentExtension(Case):
    """A customer's promise to pay an open or overdue invoice by a later date.

    ``requested`` → ``approved`` (the invoice's due date moves to the end of ``new_due_date`` and
    dunning pauses) → ``fulfilled`` (paid in full by then) or ``broken`` (not: dunning resumes).
    A request can also be ``rejected`` or ``cancelled``; neither touches the invoice. At most one
    open (requested or approved) extension per invoice, enforced by the database.
    The case's ``due_at`` is the promise's deadline, so the due-soon and overdue queues work.
    """

    REFERENCE_PREFIX = "EXT"
    CASE_TYPE = "extension"
    # The state sets the core's reports read through the case registry (``spec.model``), so the core
    # never spells an extension state.
    KEPT_STATES = EXTENSION_KEPT_STATES
    BROKEN_STATES = EXTENSION_BROKEN_STATES
    GRANTED_STATES = EXTENSION_GRANTED_STATES
    PUBLIC_TRANSITIONS = ("approve", "reject", "cancel")
    SYSTEM_TRANSITIONS = ("fulfil", "mark_broken")

    State = ExtensionState

    # Indexed by extension_invoice_state_idx (invoice first) rather than a separate FK index.
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="extensions", db_index=False)
    new_due_date = models.DateField(
        help_text="The promised date (UTC). Kept if the invoice is paid in full by 23:59:59.999999 UTC that day."
    )
    original_due_at = models.DateTimeField(help_text="The invoice's due date when the extension was requested.")
    days_requested = models.PositiveIntegerField(
        help_text="new_due_date minus the original due date (both UTC dates), in days."
    )
    reason = models.TextField(help_text="Why the customer needs more time.")
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    customer_broke_promise_recently = models.BooleanField(
        default=False, help_text="When requested, the customer had broken a promise to pay in the last 12 months."
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        help_text="Who approved, rejected or cancelled the request.",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    closed_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was rejected, cancelled, fulfilled or broken."
    )
    state = FSMField(default=ExtensionState.REQUESTED, choices=ExtensionState.choices, protected=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["invoice"],
                condition=Q(state__in=["requested", "approved"]),
                name="extension_one_open_per_invoice",
            ),
            models.CheckConstraint(condition=Q(days_requested__gt=0), name="extension_days_positive"),
            models.CheckConstraint(condition=Q(state__in=ExtensionState.values), name="extension_state_valid"),
            models.CheckConstraint(condition=~Q(reason=""), name="extension_reason_present"),
            models.CheckConstraint(
                condition=Q(state="requested") | Q(decided_by__isnull=False, decided_at__isnull=False),
                name="extension_decision_has_decider",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["requested", "approved"]) | Q(closed_at__isnull=False),
                name="extension_closed_has_closed_at",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "due_at"], name="extension_state_due_idx"),
            models.Index(fields=["invoice", "state"], name="extension_invoice_state_idx"),
            models.Index(fields=["new_due_date", "id"], name="extension_new_due_date_idx"),
            models.Index(fields=["state", "days_requested"], name="extension_state_days_idx"),
            models.Index(fields=["assignee", "state"], name="extension_assignee_state_idx"),
            models.Index(fields=["requester", "state"], name="extension_requester_state_idx"),
            models.Index(fields=["state", "closed_at"], name="extension_state_closed_idx"),
            models.Index(fields=["created_at"], name="extension_created_idx"),
            # Every extension by due date (the API list and the "all" queue): the open-only index below cannot serve it.
            models.Index(fields=["due_at", "id"], name="extension_due_idx"),
            # Queue indexes in their keyset orders: open promises by deadline, requests by promised date.
            models.Index(fields=["due_at", "id"], name="extension_open_due_idx",
                         condition=Q(state__in=["requested", "approved"])),
            models.Index(fields=["new_due_date", "id"], name="extension_requested_idx", condition=Q(state="requested")),
        ]

    # ---- transitions: in-memory changes only; the services lock, check, save and journal ----

    @transition(field=state, source=ExtensionState.REQUESTED, target=ExtensionState.APPROVED, permission=_may_decide)
    def approve(self, *, by, reason: str, at: datetime) -> None:
        self.decided_by, self.decision_reason, self.decided_at = by, reason, at

    @transition(field=state, source=ExtensionState.REQUESTED, target=ExtensionState.REJECTED, permission=_may_decide)
    def reject(self, *, by, reason: str, at: datetime) -> None:
        self.decided_by, self.decision_reason, self.decided_at = by, reason, at
        self.closed_at = at

    @transition(field=state, source=ExtensionState.REQUESTED, target=ExtensionState.CANCELLED,
                permission=_may_cancel)
    def cancel(self, *, by, reason: str, at: datetime) -> None:
        self.decided_by, self.decision_reason, self.decided_at = by, reason, at
        self.closed_at = at

    @transition(field=state, source=ExtensionState.APPROVED, target=ExtensionState.FULFILLED, permission=_system)
    def fulfil(self, *, at: datetime) -> None:
        self.closed_at = at

    @transition(field=state, source=ExtensionState.APPROVED, target=ExtensionState.BROKEN, permission=_system)
    def mark_broken(self, *, at: datetime) -> None:
        self.closed_at = at

    # ---- reads ----

    def get_absolute_url(self) -> str:
        return reverse("extensions:detail", args=[self.pk])

    @property
    def deadline(self) -> datetime:
        return promise_deadline(self.new_due_date)

    @property
    def original_due_date(self) -> date:
        return utc_date(self.original_due_at)

    @property
    def is_open(self) -> bool:
        return self.state in EXTENSION_OPEN_STATES
