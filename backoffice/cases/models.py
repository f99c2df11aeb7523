"""The shared part of every case (dispute, refund, extension): reference, assignee, due dates,
priority, comments and attachments. Concrete case models subclass ``Case`` and declare their own
``state = FSMField(protected=True)`` and transitions."""

from __future__ import annotations

import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django_fsm import ConcurrentTransitionMixin


class Priority(models.IntegerChoices):
    LOW = 1, "Low"
    NORMAL = 2, "Normal"
    HIGH = 3, "High"
    URGENT = 4, "Urgent"


class Case(ConcurrentTransitionMixin, models.Model):
    """Abstract base. Subclasses set ``REFERENCE_PREFIX`` (e.g. ``DSP``) and ``CASE_TYPE`` (e.g. ``dispute``)."""

    REFERENCE_PREFIX = "CASE"
    CASE_TYPE = "case"
    # Transition names callable from outside (API, pages, admin); anything else is internal.
    PUBLIC_TRANSITIONS: tuple[str, ...] = ()
    # Transitions only the system takes (PSP answers, deadlines); still permission-checked.
    SYSTEM_TRANSITIONS: tuple[str, ...] = ()

    reference = models.CharField(max_length=20, unique=True, null=True, blank=True, editable=False)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    due_at = models.DateTimeField(null=True, blank=True, help_text="The external deadline (UTC).")
    internal_due_at = models.DateTimeField(null=True, blank=True, help_text="Our own deadline, before due_at.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.reference or f"{self.REFERENCE_PREFIX}-?"

    @classmethod
    def format_reference(cls, pk: int) -> str:
        return f"{cls.REFERENCE_PREFIX}-{pk:06d}"


def attachment_upload_to(instance: Attachment, filename: str) -> str:
    """Stored under a generated name; the user's file name is kept only as metadata."""
    suffix = PurePosixPath(filename).suffix.lower()[:10]
    return f"attachments/{instance.created_bucket()}/{uuid.uuid4().hex}{suffix}"


class Comment(models.Model):
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.BigIntegerField()
    case = GenericForeignKey("content_type", "object_id")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["content_type", "object_id", "created_at"], name="comment_case_idx")]
        constraints = [
            models.CheckConstraint(condition=~models.Q(body=""), name="comment_body_not_empty"),
        ]

    def __str__(self) -> str:
        return f"Comment by {self.author_id} on {self.content_type_id}/{self.object_id}"


class Attachment(models.Model):
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.BigIntegerField()
    case = GenericForeignKey("content_type", "object_id")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    file = models.FileField(upload_to=attachment_upload_to, max_length=200)
    original_name = models.CharField(max_length=255)
    mime_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["content_type", "object_id", "created_at"], name="attachment_case_idx")]

    def __str__(self) -> str:
        return self.original_name

    def created_bucket(self) -> str:
        from django.utils import timezone

        return timezone.now().strftime("%Y/%m")
