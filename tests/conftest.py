"""Shared fixtures: role users, API clients, service markers, the browser launch settings."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from rest_framework.test import APIClient

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
# CI (.ci/run) builds a streaming standby and sets this; a developer's REQUIRE_SERVICES=1 run without one
# skips the replica tests visibly instead of failing.
REQUIRE_REPLICA = os.environ.get("REQUIRE_REPLICA") == "1"

# Test databases only: let Django's flush TRUNCATE the journal between transactional tests.
# Production's trigger function (journal migration 0002) has no such switch; UPDATE and DELETE
# stay refused here exactly as there, and tests/journal checks TRUNCATE with the switch off.
TEST_TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION backoffice_journal_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('backoffice.journal_purge', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the journal is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


# With DATABASE_OWNER_URL (CI): the test database is created and migrated as the owner, then the
# whole suite runs as DATABASE_URL's role, which owns nothing (backoffice/dbroles.py), exactly as
# production does. Transactional tests' flush runs as the owner (tests/testapp's flush command).
OWNER_URL = os.environ.get("DATABASE_OWNER_URL", "")
_APP_CREDENTIALS: dict = {}


def _owner_credentials() -> dict:
    from backoffice.dbroles import owner_settings

    return owner_settings(OWNER_URL)


# Test databases only: tests play a DBA who changes rows behind the app's back (db_owner fixture).
TEST_OWNER_FUNCTION = """
CREATE OR REPLACE FUNCTION backoffice_test_as_owner(statement text, bypass_triggers boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF bypass_triggers THEN
        PERFORM set_config('session_replication_role', 'replica', true);
    END IF;
    EXECUTE statement;
    IF bypass_triggers THEN
        PERFORM set_config('session_replication_role', 'origin', true);
    END IF;
END;
$$;
"""


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings):
    from django.db import connections

    conn = connections["default"]
    if OWNER_URL and conn.vendor == "postgresql":
        owner = _owner_credentials()
        if owner["USER"] != conn.settings_dict.get("USER"):
            _APP_CREDENTIALS.update({k: conn.settings_dict.get(k, "") for k in owner})
            conn.close()
            conn.settings_dict.update(owner)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    from backoffice.dbroles import grant_app_role

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(TEST_TRIGGER_FUNCTION)
                cursor.execute(TEST_OWNER_FUNCTION)
                cursor.execute(
                    "SELECT current_database()"
                )
                name = cursor.fetchone()[0]
                cursor.execute(f'ALTER DATABASE "{name}" SET backoffice.journal_purge = \'on\'')
            if _APP_CREDENTIALS:
                grant_app_role(connection, role=_APP_CREDENTIALS["USER"])
                connection.settings_dict.update(_APP_CREDENTIALS)
            connection.close()
    yield
    if _APP_CREDENTIALS:
        with django_db_blocker.unblock():
            connection.close()
            connection.settings_dict.update(_owner_credentials())


@pytest.fixture
def db_owner(db):
    """Run SQL as the database owner inside the test's transaction (a DBA behind the app's back).

    ``db_owner(sql, params, bypass_triggers=True)`` also switches triggers off for that statement
    (``session_replication_role``), as someone with full rights could. Uses a SECURITY DEFINER
    function that exists only in test databases (TEST_OWNER_FUNCTION)."""
    from django.db import connection as dj
    from django.db import transaction

    def run(sql, params=None, *, bypass_triggers=False):
        with transaction.atomic(), dj.cursor() as cursor:
            if dj.vendor != "postgresql":
                cursor.execute(sql, params)
                return
            statement = dj.ops.compose_sql(sql, params) if params else sql
            cursor.execute("SELECT backoffice_test_as_owner(%s, %s)", [statement, bypass_triggers])

    return run


def pytest_collection_modifyitems(config, items):
    vendor = "postgresql" if os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgresql")) else "sqlite"
    has_redis = bool(os.environ.get("REDIS_URL"))
    for item in items:
        if item.get_closest_marker("postgres") and vendor != "postgresql":
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://…"))
        if item.get_closest_marker("redis") and not has_redis:
            item.add_marker(pytest.mark.skip(reason="needs Redis: set REDIS_URL=redis://…"))
        if item.get_closest_marker("replica") and not os.environ.get("DATABASE_REPLICA_URL"):
            item.add_marker(pytest.mark.skip(reason="needs a streaming standby: `make standby` and "
                                                    "DATABASE_REPLICA_URL=postgres://postgres@127.0.0.1:5433/x"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With REQUIRE_SERVICES=1 (CI) a skipped test is a failure: nothing may silently not run."""
    outcome = yield
    report = outcome.get_result()
    optional = item.get_closest_marker("replica") is not None and not REQUIRE_REPLICA
    if REQUIRE_SERVICES and report.skipped and not hasattr(report, "wasxfail") and not optional:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under REQUIRE_SERVICES=1: {reason}"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Every test starts with an empty cache: cached dashboard figures, throttle counters and lockouts of an
    earlier test (the cache is Redis when REDIS_URL is set, shared by the whole run) must not leak into it."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _role_defaults(request):
    """Transactional tests flush the database, migration data included: put roles and reason codes back."""
    marker = request.node.get_closest_marker("django_db")
    names = request.fixturenames
    transactional = "transactional_db" in names or "live_server" in names or (
        marker is not None and marker.kwargs.get("transaction", False))
    if not transactional:
        return
    request.getfixturevalue("transactional_db")
    from django.contrib.auth.models import Group as G

    from backoffice.roles.defaults import install_defaults
    from backoffice.roles.models import ApprovalLimit, DualApprovalThreshold

    if not G.objects.filter(name="team_lead").exists():
        install_defaults(G, ApprovalLimit, DualApprovalThreshold)
    from disputes.catalogue import catalogue_sync
    from disputes.models import ReasonCode

    if not ReasonCode.objects.exists():
        catalogue_sync(ReasonCode)
    from backoffice.scheduling import schedules_install

    schedules_install()
    from backoffice.journal.services import journal_checkpoint_genesis

    journal_checkpoint_genesis()


@pytest.fixture(autouse=True)
def _denials_committed_behind_the_test(request):
    """A refusal inside a transaction is recorded on a connection of its own, which commits at once
    (backoffice/denials.py): behind a test's own rolled-back transaction such rows would outlive the
    test. Remove them afterwards (transactional tests flush the whole database anyway)."""
    from backoffice import denials

    before = denials.own_connection_writes
    yield
    if denials.own_connection_writes == before:
        return
    from django.db import connections

    blocker = request.getfixturevalue("django_db_blocker")
    with blocker.unblock():
        default = connections["default"]
        own = default.__class__(dict(default.settings_dict), alias="denials_cleanup")
        try:
            with own.cursor() as cursor:
                cursor.execute("SELECT backoffice_test_as_owner(%s, true)", ["DELETE FROM journal_deniedattempt"])
        finally:
            own.close()


def _make_user(username: str, *groups: str, superuser: bool = False):
    from django.contrib.auth import get_user_model

    User = get_user_model()
    user = User.objects.create_user(username=username, password="pw", email=f"{username}@example.test",
                                    is_staff=superuser, is_superuser=superuser)
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    return user


@pytest.fixture
def specialist(db):
    return _make_user("spec1", "billing_specialist")


@pytest.fixture
def specialist2(db):
    return _make_user("spec2", "billing_specialist")


@pytest.fixture
def lead(db):
    return _make_user("lead1", "team_lead")


@pytest.fixture
def lead2(db):
    return _make_user("lead2", "team_lead")


@pytest.fixture
def auditor(db):
    return _make_user("audit1", "finance_auditor")


@pytest.fixture
def superuser_lead(db):
    return _make_user("root1", "team_lead", superuser=True)


@pytest.fixture
def api():
    """``api(user)`` → an APIClient authenticated with that user's token."""

    from backoffice.accounts.services import api_token_issue

    tokens = {}

    def make(user=None):
        client = APIClient()
        if user is not None:
            if user.pk not in tokens:
                tokens[user.pk] = api_token_issue(user=user)[1]
            client.credentials(HTTP_AUTHORIZATION=f"Token {tokens[user.pk]}")
        return client

    return make


@pytest.fixture
def as_user(client):
    """``as_user(user)`` → the test client, signed in as that user (pages)."""

    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
        "args": ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
    }


@pytest.fixture
def celery_worker_process(transactional_db):
    """A real Celery worker (a separate process) on the Redis of CI and this test's PostgreSQL database.

    Tasks sent by the test go to a queue of their own, so nothing else's messages interfere.
    """
    import subprocess
    import sys
    import time
    import uuid
    from pathlib import Path

    from backoffice.celery import app

    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        pytest.skip("needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL) for a real worker")
    db = connection.settings_dict
    queue = f"test-{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backoffice.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_WORKER_QUEUE": queue,
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    root = Path(__file__).resolve().parents[1]
    log = open(root / f".worker-{queue}.log", "w+")  # noqa: SIM115 - closed in teardown
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "backoffice", "worker", "-Q", queue, "-n", f"{queue}@localhost",
         "--pool=solo", "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    saved = (app.conf.task_always_eager, app.conf.task_default_queue)
    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"the Celery worker exited: {log.read()[-3000:]}")
            if app.control.ping(destination=[f"celery@{queue}@localhost", f"{queue}@localhost"], timeout=0.5):
                break
        else:
            pytest.fail("the Celery worker did not answer a ping within 60 s")
        yield {"queue": queue, "process": proc, "log": log}
    finally:
        app.conf.task_always_eager, app.conf.task_default_queue = saved
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        Path(log.name).unlink(missing_ok=True)


@pytest.fixture
def flaky_mail(settings):
    """E-mail through ``tests.mail.FlakyBackend``: ``flaky_mail.down = True`` or ``flaky_mail.refuse = {...}``."""
    from tests.mail import FlakyBackend

    FlakyBackend.reset()
    settings.EMAIL_BACKEND = "tests.mail.FlakyBackend"
    yield FlakyBackend
    FlakyBackend.reset()
