from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from .twofactor import otp_confirmed_device, otp_required_for

OPEN_PREFIXES = ("/accounts/logout/", "/accounts/2fa/", "/static/", "/healthz")


class OTPRequiredMiddleware:
    """With OTP_REQUIRED, a team lead's or administrator's session is good for nothing but the
    second step until it was verified with a code (after django_otp's OTPMiddleware)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (settings.OTP_REQUIRED and user is not None and user.is_authenticated and not user.is_verified()
                and not request.path.startswith(OPEN_PREFIXES) and otp_required_for(user)):
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": "Two-factor verification is required: complete it on the web "
                                               "sign-in first.", "code": "otp_required"}, status=403)
            step = "otp-verify" if otp_confirmed_device(user) else "otp-setup"
            return redirect(f"{reverse(step)}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
