"""The second sign-in step: enrol an authenticator app, or enter its code."""

from __future__ import annotations

import base64

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import login as otp_login

from .twofactor import otp_check, otp_confirmed_device, otp_device_confirm, otp_device_start, otp_required_for


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return "/"


@login_required
def otp_setup(request):
    user = request.user
    if otp_confirmed_device(user):
        return redirect(f"/accounts/2fa/?next={_next(request)}")
    device = otp_device_start(user=user)
    error = ""
    if request.method == "POST":
        if otp_device_confirm(device=device, token=request.POST.get("token", "")):
            otp_login(request, device)
            messages.success(request, "Two-factor sign-in is set up. You will be asked for a code at each sign-in.")
            return redirect(_next(request))
        error = "That code does not match. Check the time on your phone and enter the current code."
    qr = segno.make(device.config_url, error="m").svg_inline(scale=4, dark="#111", light="#fff")
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return render(request, "registration/otp_setup.html", {
        "qr": qr, "secret": " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)), "error": error,
        "next": _next(request), "required": otp_required_for(user),
    }, status=400 if error else 200)


@login_required
def otp_verify(request):
    user = request.user
    if otp_confirmed_device(user) is None:
        return redirect(f"/accounts/2fa/setup/?next={_next(request)}")
    error = ""
    if request.method == "POST":
        device = otp_check(user=user, token=request.POST.get("token", ""))
        if device is not None:
            otp_login(request, device)
            return redirect(_next(request))
        error = "That code is not valid (or too many wrong codes were entered: wait a little and try again)."
    return render(request, "registration/otp_verify.html", {"error": error, "next": _next(request)},
                  status=400 if error else 200)
