"""Test settings: fast hashing, in-memory email, tmp media."""

import tempfile
from pathlib import Path

from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "test-secret-key-not-for-production"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="backoffice-media-"))
ALLOWED_HOSTS = ["*"]
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
# Tasks run in-process in tests even when REDIS_URL is set; the worker integration tests
# switch to the real broker explicitly.
CELERY_TASK_ALWAYS_EAGER = True
# With DATABASE_REPLICA_URL set (CI) the replica alias mirrors the test database; only the replica tests
# route reads to the real standby (tests/backoffice/test_replica.py).
REPLICA_READS = False

# A minimal case type used by the foundation's own tests (tests/testapp).
INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]  # noqa: F405
ROOT_URLCONF = "tests.testapp.urls"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
