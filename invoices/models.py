"""The billing ledger the cases work on: customers, invoices with their lines, and payments.

Amounts are integers in minor units with an ISO 4217 ``currency`` (see ``backoffice.money``).
Rows are written by ``invoices.services`` (or the demo seed), never by views or the admin.
What an invoice has been paid is derived from its payments (``selectors.invoice_paid_minor``),
never stored twice. What must never be false is a database constraint, so a bad import or a
raw write is refused by PostgreSQL and SQLite alike.
"""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

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
