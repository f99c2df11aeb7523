"""What the PSPs sent us: every delivery as received (headers, raw body, verdict), and every event
in it once, under a unique (psp, event id), with what applying it did.

A delivery is stored before anything is applied, so nothing a PSP sent is ever lost: a refused
signature, an event for a payment we do not know, a handler that refused — all stay listed in the
webhook inbox (``/webhooks/``) for a person.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Psp(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    ADYEN = "adyen", "Adyen"


class DeliveryVerdict(models.TextChoices):
    VERIFIED = "verified", "Signature verified"
    PARTIAL = "partial", "Some items refused"
    BAD_SIGNATURE = "bad_signature", "Bad signature"
    MALFORMED = "malformed", "Malformed body"
    NOT_CONFIGURED = "not_configured", "No secret configured"


class WebhookDelivery(models.Model):
    """One HTTP request to a webhook endpoint (or a replay of one), exactly as received."""

    Verdict = DeliveryVerdict

    psp = models.CharField(max_length=16, choices=Psp.choices)
    received_at = models.DateTimeField(default=timezone.now)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    headers = models.JSONField(default=dict, help_text="Request headers (cookies and credentials left out).")
    raw_body = models.BinaryField(help_text="The body byte for byte: the signature covers these bytes.")
    verdict = models.CharField(max_length=16, choices=DeliveryVerdict.choices)
    verdict_detail = models.CharField(max_length=300, blank=True)
    outcomes = models.JSONField(
        default=list, blank=True,
        help_text='One entry per event or item: {"event_id", "type", "result", "detail"}.',
    )
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="replays")
    replayed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(verdict__in=DeliveryVerdict.values),
                                   name="webhookdelivery_verdict_valid"),
            models.CheckConstraint(condition=Q(psp__in=Psp.values), name="webhookdelivery_psp_valid"),
        ]
        indexes = [
            models.Index(fields=["received_at", "id"], name="webhookdelivery_received_idx"),
            models.Index(fields=["psp", "verdict", "received_at"], name="webhookdelivery_verdict_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_psp_display()} delivery {self.pk} ({self.verdict})"

    @property
    def body_text(self) -> str:
        return bytes(self.raw_body).decode("utf-8", errors="replace")

    @property
    def accepted(self) -> bool:
        return self.verdict in (DeliveryVerdict.VERIFIED, DeliveryVerdict.PARTIAL)


class EventStatus(models.TextChoices):
    PROCESSING = "processing", "Processing"
    APPLIED = "applied", "Applied"
    IGNORED = "ignored", "Nothing to do"
    UNMATCHED = "unmatched", "Unknown payment"
    STALE = "stale", "Older than the last applied"
    FAILED = "failed", "Refused"


# A redelivery (or a person) may apply these again; the others are done.
RETRYABLE_STATUSES = (EventStatus.UNMATCHED, EventStatus.FAILED, EventStatus.PROCESSING)


class WebhookEvent(models.Model):
    """One PSP event (a Stripe event, one Adyen notification item), recorded once per PSP event id."""

    Status = EventStatus

    psp = models.CharField(max_length=16, choices=Psp.choices)
    event_id = models.CharField(max_length=255, help_text="Stripe's evt_… id; for Adyen the item's identity.")
    event_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True, help_text="The PSP object: dispute, refund, charge.")
    payment_reference = models.CharField(max_length=64, blank=True, help_text="The PSP's payment id in the event.")
    occurred_at = models.DateTimeField(help_text="When the PSP says the event happened (orders events per object).")
    payload = models.JSONField(help_text="The event (Stripe) or notification item (Adyen) as sent.")
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.PROTECT, related_name="events",
                                 help_text="The first delivery that carried it.")
    status = models.CharField(max_length=16, choices=EventStatus.choices, default=EventStatus.PROCESSING)
    detail = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    deliveries_seen = models.PositiveIntegerField(default=1, help_text="Deliveries that carried this event.")
    payment = models.ForeignKey("invoices.Payment", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+", help_text="Linked by a person for an event of an unknown payment.")
    case_type = models.CharField(max_length=32, blank=True)
    case_id = models.BigIntegerField(null=True, blank=True)
    case_reference = models.CharField(max_length=32, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["psp", "event_id"], name="webhookevent_psp_event_unique"),
            models.CheckConstraint(condition=Q(status__in=EventStatus.values), name="webhookevent_status_valid"),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="webhookevent_status_idx"),
            models.Index(fields=["psp", "object_id"], name="webhookevent_object_idx"),
            models.Index(fields=["case_type", "case_id"], name="webhookevent_case_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} ({self.status})"


class WebhookObjectCursor(models.Model):
    """The newest event applied to one PSP object: an older event never moves it backwards."""

    psp = models.CharField(max_length=16, choices=Psp.choices)
    object_id = models.CharField(max_length=64)
    last_occurred_at = models.DateTimeField()
    last_event_id = models.CharField(max_length=255)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["psp", "object_id"], name="webhookcursor_object_unique")]

    def __str__(self) -> str:
        return f"{self.psp} {self.object_id} @ {self.last_occurred_at:%Y-%m-%d %H:%M:%S}"
