"""Production settings: DEBUG off, secrets from the environment, `check --deploy` clean."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update({"DJANGO_SETTINGS_MODULE": "backoffice.settings.production", **(env_extra or {})})
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


@pytest.mark.postgres
@pytest.mark.django_db
def test_pgbouncer_mode_keeps_no_session_state_across_transactions():
    """DB_PGBOUNCER=1: no server-side cursors, no prepared statements; the app still reads and iterates."""
    script = (
        "from django.conf import settings; from django.db import connection;"
        "from django.contrib.auth.models import Group;"
        "db = settings.DATABASES['default'];"
        "print(db['DISABLE_SERVER_SIDE_CURSORS'], db['OPTIONS'].get('prepare_threshold', 'unset'));"
        "[list(Group.objects.order_by('name').iterator()) for _ in range(7)];"
        "connection.ensure_connection(); print(connection.connection.prepare_threshold);"
        "print(connection.connection.execute('SELECT count(*) FROM pg_prepared_statements').fetchone()[0])"
    )
    from django.db import connection

    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    result = run_manage("shell", "-c", script,
                        env_extra={"SECRET_KEY": "p" * 60, "DB_PGBOUNCER": "1", "DATABASE_URL": url})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split()[-4:] == ["True", "None", "None", "0"], result.stdout
