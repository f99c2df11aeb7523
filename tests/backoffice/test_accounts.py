"""Sign-in hardening: hashed expiring tokens, lockout, throttles, two-factor, session timeouts, CSP."""

import hashlib
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.cache import cache
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from freezegun import freeze_time

from backoffice.accounts.models import ApiToken
from tests.backoffice.factories import make_ticket

ROOT = Path(__file__).resolve().parents[2]


def _token(api, username, password="pw", **extra):
    return api().post("/api/v1/auth/token/", {"username": username, "password": password, **extra}, format="json")


def _code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift):06d}"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


# --- API tokens -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_tokens_are_stored_hashed_and_each_sign_in_gets_a_new_one(api, specialist):
    first = _token(api, "spec1").json()["token"]
    second = _token(api, "spec1").json()["token"]
    assert first != second and re.fullmatch(r"[0-9a-f]{40}", first)
    stored = ApiToken.objects.filter(user=specialist)
    assert {t.key_hash for t in stored} == {hashlib.sha256(k.encode()).hexdigest() for k in (first, second)}
    assert not ApiToken.objects.filter(key_hash__in=[first, second]).exists()
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    assert client.get("/api/v1/tickets/").status_code == 200


@pytest.mark.django_db
def test_a_token_expires(api, specialist, settings):
    settings.API_TOKEN_TTL_HOURS = 12
    key = _token(api, "spec1").json()["token"]
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    with freeze_time(timezone.now() + timedelta(hours=11, minutes=59)):
        assert client.get("/api/v1/tickets/").status_code == 200
    with freeze_time(timezone.now() + timedelta(hours=12, minutes=1)):
        response = client.get("/api/v1/tickets/")
    assert response.status_code in (401, 403) and response.json()["code"] == "not_authenticated"
    assert "expired" in response.json()["detail"]


@pytest.mark.django_db
def test_a_deactivated_users_token_stops_working(api, specialist):
    client = api(specialist)
    assert client.get("/api/v1/tickets/").status_code == 200
    specialist.is_active = False
    specialist.save()
    assert client.get("/api/v1/tickets/").json()["code"] == "not_authenticated"


@pytest.mark.django_db
def test_the_admin_never_shows_a_token(client, api, superuser_lead, lead):
    key = _token(api, "lead1").json()["token"]
    client.force_login(superuser_lead)
    listing = client.get("/admin/accounts/apitoken/")
    assert listing.status_code == 200 and key[:8] in listing.content.decode()
    token = ApiToken.objects.get(user=lead)
    detail = client.get(f"/admin/accounts/apitoken/{token.pk}/change/").content.decode()
    for page in (listing.content.decode(), detail):
        assert key not in page and token.key_hash not in page
    assert client.get("/admin/authtoken/tokenproxy/").status_code == 404  # DRF's readable tokens are gone
    assert client.get("/admin/accounts/apitoken/add/").status_code == 403
    # A superuser can revoke a token (it stops working), never read or use it.
    client.post("/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    revoked = api()
    revoked.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert revoked.get("/api/v1/tickets/").json()["code"] == "not_authenticated"


# --- Lockout and throttles --------------------------------------------------------------------


@pytest.mark.django_db
def test_the_login_page_locks_an_account_after_five_wrong_passwords(client, specialist):
    for _ in range(4):
        response = client.post("/accounts/login/", {"username": "spec1", "password": "wrong"})
        assert response.status_code == 200 and "didn't match" in response.content.decode()
    locked = client.post("/accounts/login/", {"username": "spec1", "password": "wrong"})
    assert locked.status_code == 429 and "locked for 15 minutes" in locked.content.decode()
    # Even the right password is refused while locked, from anywhere.
    again = client.post("/accounts/login/", {"username": "spec1", "password": "pw"}, REMOTE_ADDR="10.9.9.9")
    assert again.status_code == 429 and "_auth_user_id" not in client.session
    assert client.post("/accounts/login/", {"username": "spec2", "password": "wrong"}).status_code == 200
    with freeze_time(timezone.now() + timedelta(minutes=16)):
        assert client.post("/accounts/login/", {"username": "spec1", "password": "pw"}).status_code == 302


@pytest.mark.django_db
def test_the_token_endpoint_locks_an_account_after_five_wrong_passwords(api, specialist):
    answers = [_token(api, "spec1", "wrong") for _ in range(5)]
    assert [r.status_code for r in answers] == [400, 400, 400, 400, 429]
    locked = _token(api, "spec1")
    assert locked.status_code == 429 and locked.json()["code"] == "account_locked"
    assert int(locked["Retry-After"]) == 900 and not ApiToken.objects.exists()


@pytest.mark.django_db
def test_the_token_endpoint_is_throttled_per_client_address(api, specialist, settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "login": "3/min"}
    assert [_token(api, "spec1").status_code for _ in range(3)] == [200, 200, 200]
    throttled = _token(api, "spec1")
    assert throttled.status_code == 429 and throttled.json()["code"] == "throttled"
    assert "Retry-After" in throttled


@pytest.mark.django_db
def test_writes_are_throttled_per_user_and_reads_are_not(api, specialist, specialist2, settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "write": "2/min"}
    ticket = make_ticket(requester=specialist)
    client = api(specialist)
    codes = [client.post(f"/api/v1/tickets/{ticket.pk}/comments/", {"body": f"c{i}"}, format="json").status_code
             for i in range(3)]
    assert codes[:2] == [201, 201] and codes[2] == 429
    assert client.get("/api/v1/tickets/").status_code == 200
    other = api(specialist2).post(f"/api/v1/tickets/{ticket.pk}/comments/", {"body": "x"}, format="json")
    assert other.status_code == 201


# --- Two-factor sign-in -----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_team_lead_enrols_an_authenticator_and_then_needs_a_code(client, lead, settings):
    settings.OTP_REQUIRED = True
    response = client.post("/accounts/login/", {"username": "lead1", "password": "pw"})
    assert response.status_code == 302
    gated = client.get("/queues/mine/")
    assert gated.status_code == 302 and gated["Location"].startswith("/accounts/2fa/setup/")
    assert client.get("/api/v1/tickets/").json()["code"] == "otp_required"
    setup = client.get(gated["Location"])
    assert setup.status_code == 200 and "<svg" in setup.content.decode()
    device = TOTPDevice.objects.get(user=lead, confirmed=False)
    assert client.post("/accounts/2fa/setup/", {"token": "000000", "next": "/queues/mine/"}).status_code == 400
    with freeze_time(timezone.now() + timedelta(seconds=5)):  # django-otp slows down guessing after a miss
        done = client.post("/accounts/2fa/setup/", {"token": _code(device), "next": "/queues/mine/"})
        assert done.status_code == 302 and done["Location"] == "/queues/mine/"
        assert client.get("/queues/mine/").status_code == 200

    # Next sign-in: password, then the code.
    client.post("/accounts/logout/")
    client.post("/accounts/login/", {"username": "lead1", "password": "pw"})
    step = client.get("/audit/")
    assert step["Location"].startswith("/accounts/2fa/?")
    assert client.post("/accounts/2fa/", {"token": "12345x"}).status_code == 400
    with freeze_time(timezone.now() + timedelta(seconds=60)):
        device.refresh_from_db()
        assert client.post("/accounts/2fa/", {"token": _code(device), "next": "/audit/"})["Location"] == "/audit/"
        assert client.get("/audit/").status_code == 200


@pytest.mark.django_db
def test_specialists_and_auditors_need_no_second_factor(client, specialist, auditor, settings):
    settings.OTP_REQUIRED = True
    for username in ("spec1", "audit1"):
        client.post("/accounts/login/", {"username": username, "password": "pw"})
        assert client.get("/queues/all/").status_code == 200
        client.post("/accounts/logout/")


@pytest.mark.django_db
def test_the_token_endpoint_asks_team_leads_for_their_code(api, lead, settings):
    settings.OTP_REQUIRED = True
    unenrolled = _token(api, "lead1")
    assert unenrolled.status_code == 403 and unenrolled.json()["code"] == "otp_enrolment_required"
    device = TOTPDevice.objects.create(user=lead, name="phone", confirmed=True)
    missing = _token(api, "lead1")
    assert missing.status_code == 400 and missing.json()["code"] == "otp_required"
    assert _token(api, "lead1", otp_token="123").json()["code"] == "otp_required"
    ok = _token(api, "lead1", otp_token=_code(device))
    assert ok.status_code == 200 and ok.json()["token"]


@pytest.mark.django_db
def test_the_admin_shows_no_totp_secret_and_superusers_reset_devices(client, superuser_lead, lead):
    device = TOTPDevice.objects.create(user=lead, name="phone", confirmed=True)
    client.force_login(superuser_lead)
    page = client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/").content.decode()
    assert device.key not in page and "lead1" in page
    client.post("/admin/otp_totp/totpdevice/", {"action": "reset", "_selected_action": [device.pk]})
    assert not TOTPDevice.objects.filter(user=lead).exists()


def test_production_settings_require_two_factor_and_local_settings_do_not():
    production = (ROOT / "backoffice/settings/production.py").read_text()
    assert 'OTP_REQUIRED = env_bool("OTP_REQUIRED", True)' in production
    assert 'OTP_REQUIRED = env_bool("OTP_REQUIRED", False)' in (ROOT / "backoffice/settings/local.py").read_text()


# --- Sessions ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_idle_session_ends_after_thirty_minutes(client, specialist, settings):
    settings.SESSION_IDLE_TIMEOUT = 30 * 60
    start = timezone.now()
    with freeze_time(start):
        client.post("/accounts/login/", {"username": "spec1", "password": "pw"})
    with freeze_time(start + timedelta(minutes=29)):
        assert client.get("/queues/mine/").status_code == 200
    with freeze_time(start + timedelta(minutes=58)):
        assert client.get("/queues/mine/").status_code == 200  # 29 minutes after the last request
    with freeze_time(start + timedelta(minutes=89)):
        response = client.get("/queues/mine/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_session_ends_eight_hours_after_sign_in_even_when_active(client, specialist, settings):
    start = timezone.now()
    with freeze_time(start):
        client.post("/accounts/login/", {"username": "spec1", "password": "pw"})
    for minutes in range(20, 8 * 60, 20):
        with freeze_time(start + timedelta(minutes=minutes)):
            assert client.get("/queues/mine/").status_code == 200, minutes
    with freeze_time(start + timedelta(hours=8, minutes=5)):
        response = client.get("/queues/mine/")
    assert response.status_code == 302 and "_auth_user_id" not in client.session
    assert settings.SESSION_COOKIE_AGE == 8 * 3600 and settings.SESSION_EXPIRE_AT_BROWSER_CLOSE


# --- Content-Security-Policy ------------------------------------------------------------------


@pytest.mark.django_db
def test_pages_carry_a_content_security_policy_without_inline_script(client, specialist):
    client.force_login(specialist)
    policy = client.get("/queues/mine/")["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'" and directives["default-src"] == "'self'"
    assert "unsafe-inline" not in directives["script-src"] and "unsafe-eval" not in policy
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"


def test_no_template_has_inline_script_or_event_handlers():
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        for match in re.finditer(r"<script\b[^>]*>", text):
            if "src=" not in match.group(0) and "application/json" not in match.group(0):
                offenders.append(f"{path}: {match.group(0)}")
        offenders += [f"{path}: {m.group(0)}" for m in re.finditer(r"\son[a-z]+\s*=", text)]
        offenders += [f"{path}: javascript: URL" for _ in re.finditer(r"javascript:", text)]
    assert offenders == []
