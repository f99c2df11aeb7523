"""Settings for the performance suite: production-like (DEBUG off, no debug toolbar, real templates),
the bench database from ``DATABASE_URL``, mail kept in memory, plus the baselines' URLs."""

from backoffice.settings.base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "bench-only-not-a-secret"  # noqa: S105 - the bench never serves the outside world
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
ROOT_URLCONF = "bench.urls"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
LOGGING["root"]["level"] = "ERROR"  # noqa: F405
WHITENOISE_USE_FINDERS = True
TEMPLATES[0]["DIRS"] = [*TEMPLATES[0]["DIRS"], BASE_DIR / "bench" / "templates"]  # noqa: F405
# Every dashboard request computes its figures (the worst case), instead of the page's short cache.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
# The journal signs every row (keyed chain): the bench uses the fixed development key unless one is given.
JOURNAL_HMAC_KEYS = JOURNAL_HMAC_KEYS or DEV_JOURNAL_HMAC_KEYS  # noqa: F405
