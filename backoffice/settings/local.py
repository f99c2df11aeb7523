"""Local/demo settings: debug on unless told otherwise, a fixed dev secret."""

from .base import *  # noqa: F403
from .base import env_bool

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = SECRET_KEY or "dev-only-insecure-key-change-me"  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# The demo signs its seeded webhook deliveries with this secret (so they can be replayed); `stripe listen`
# prints its own whsec_… secret: set STRIPE_WEBHOOK_SECRET to it (several, comma-separated, are accepted).
DEMO_STRIPE_WEBHOOK_SECRET = "whsec_demo_local_only"  # noqa: S105 - demo only, documented in the README
STRIPE_WEBHOOK_SECRET = STRIPE_WEBHOOK_SECRET or DEMO_STRIPE_WEBHOOK_SECRET  # noqa: F405
