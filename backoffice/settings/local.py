"""Local/demo settings: debug on unless told otherwise, a fixed dev secret."""

from .base import *  # noqa: F403
from .base import env_bool

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = SECRET_KEY or "dev-only-insecure-key-change-me"  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
JOURNAL_HMAC_KEYS = JOURNAL_HMAC_KEYS or DEV_JOURNAL_HMAC_KEYS  # noqa: F405 - a fixed dev key
OTP_REQUIRED = env_bool("OTP_REQUIRED", False)  # demo users sign in with the password "demo" alone
