"""Two-factor sign-in (TOTP, django-otp) for team leads and administrators.

``OTP_REQUIRED`` (on in production settings) makes a second factor mandatory for them: after the
password they enter a 6-digit code from their authenticator app, or enrol one on first sign-in.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.roles.predicates import is_team_lead

DEVICE_NAME = "authenticator app"


def otp_required_for(user: Any) -> bool:
    if not settings.OTP_REQUIRED or not getattr(user, "is_authenticated", False):
        return False
    return bool(user.is_superuser or user.is_staff or is_team_lead(user))


def otp_confirmed_device(user: Any) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()


def otp_device_start(*, user: Any) -> TOTPDevice:
    """The user's pending (unconfirmed) device, created on first use; its secret goes in the QR code."""
    with transaction.atomic():
        device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def otp_device_confirm(*, device: TOTPDevice, token: str) -> bool:
    """Confirm a pending device with a code it produced; other pending devices of the user go."""
    token = (token or "").strip().replace(" ", "")
    if not (token.isascii() and token.isdigit() and len(token) == 6):
        return False
    with transaction.atomic():
        if not device.verify_token(token):
            return False
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=device.user, confirmed=False).exclude(pk=device.pk).delete()
    return True


def otp_check(*, user: Any, token: str) -> TOTPDevice | None:
    """The user's confirmed device that accepts ``token`` (django-otp throttles repeated failures)."""
    token = (token or "").strip().replace(" ", "")
    if not (token.isascii() and token.isdigit() and len(token) == 6):
        return None
    device = otp_confirmed_device(user)
    if device is None:
        return None
    with transaction.atomic():
        return device if device.verify_token(token) else None


def otp_reset(*, users: Any) -> int:
    """Remove the users' devices: they enrol again at their next sign-in (an administrator's action)."""
    with transaction.atomic():
        count, _ = TOTPDevice.objects.filter(user__in=list(users)).delete()
    return count
