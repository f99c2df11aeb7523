"""Per-user settings of the pages: locale and time zone (the profile) and saved queue views."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Profile(models.Model):
    """How pages show money and time to this user. Blank fields follow the browser."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    locale = models.CharField(
        max_length=20, blank=True,
        help_text='A CLDR locale such as "en_GB", "ru_KZ", "kk_KZ"; blank follows the browser\'s language.',
    )
    time_zone = models.CharField(
        max_length=64, blank=True,
        help_text='An IANA time zone such as "Asia/Almaty"; blank follows the browser\'s time zone.',
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Profile of {self.user_id}"


class SavedView(models.Model):
    """A named queue with its filters, e.g. "KZT refunds over 100k" on the approvals queue."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=80)
    queue = models.CharField(max_length=20)
    query = models.CharField(max_length=1000, blank=True, help_text="The filters as a URL query string.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="savedview_user_name_unique"),
            models.CheckConstraint(condition=~Q(name=""), name="savedview_name_present"),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def url(self) -> str:
        from django.urls import reverse

        base = reverse("queue", args=[self.queue])
        return f"{base}?{self.query}" if self.query else base
