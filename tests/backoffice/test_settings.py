"""Production settings: DEBUG off, secrets from the environment, `check --deploy` clean."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JOURNAL_KEYS = "prod-2026:" + "k" * 48


def run_manage(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items()
           if k not in {"SECRET_KEY", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE", "JOURNAL_HMAC_KEYS"}}
    env.update({"DJANGO_SETTINGS_MODULE": "backoffice.settings.production", "JOURNAL_HMAC_KEYS": JOURNAL_KEYS,
                **(env_extra or {})})
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_production_check_deploy_is_clean():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING",
                        env_extra={"SECRET_KEY": "x" * 20 + "-production-like-secret-" + "y" * 30})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = run_manage("check")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_debug_is_off_even_if_asked():
    result = run_manage("shell", "-c", "from django.conf import settings; print(settings.DEBUG)",
                        env_extra={"SECRET_KEY": "z" * 60, "DEBUG": "1"})
    assert result.stdout.strip().splitlines()[-1] == "False", result.stdout + result.stderr


def test_production_refuses_to_start_without_a_journal_key():
    result = run_manage("check", env_extra={"SECRET_KEY": "z" * 60, "JOURNAL_HMAC_KEYS": ""})
    assert result.returncode != 0 and "JOURNAL_HMAC_KEYS must be set" in result.stderr
    short = run_manage("check", env_extra={"SECRET_KEY": "z" * 60, "JOURNAL_HMAC_KEYS": "k1:short"})
    assert short.returncode != 0 and "at least 32 characters" in short.stderr
