"""Settings shared by every environment; everything secret or site-specific comes from the environment."""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

from backoffice.journal.signing import parse_keys as parse_journal_keys

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


SECRET_KEY = os.environ.get("SECRET_KEY", "")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rules.apps.AutodiscoverRulesConfig",
    "rest_framework",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "csp",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_tables2",
    "django_htmx",
    "django_celery_beat",
    "django_prometheus",
    "backoffice.cases",
    "backoffice.accounts",
    "backoffice.journal",
    "backoffice.roles",
    "backoffice.notifications",
    "backoffice.web",
    "backoffice.api",
    "backoffice.gateway",
    "backoffice.insight",
    "backoffice.webhooks",
    "invoices",
    "disputes",
    "refunds",
    "reconciliation",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "backoffice.accounts.sessions.SessionTimeoutMiddleware",
    "backoffice.accounts.middleware.OTPRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "backoffice.web.preferences.ReaderMiddleware",
    "backoffice.web.middleware.RequestContextMiddleware",
    "backoffice.middleware.InputBackstopMiddleware",
    "axes.middleware.AxesMiddleware",
    "backoffice.insight.logs.LogContextMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "backoffice.urls"
WSGI_APPLICATION = "backoffice.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "backoffice.web.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
    )
}
# PostgreSQL in production: DATABASE_URL is the app's role (no ownership); `manage.py migrate`
# connects as DATABASE_OWNER_URL's user instead and then grants the app's role (backoffice/dbroles.py).
DATABASE_OWNER_URL = os.environ.get("DATABASE_OWNER_URL", "")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
# A streaming standby for dashboards, audit search, exports and reports (backoffice/db/routers.py).
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(
        os.environ["DATABASE_REPLICA_URL"], conn_max_age=env_int("DB_CONN_MAX_AGE", 0))
    # Tests read the replica through the primary's test database unless a test points it at the standby.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["backoffice.db.routers.ReplicaRouter"]
# Behind PgBouncer in transaction pooling mode (DB_PGBOUNCER=1) a server connection changes hands
# between transactions: no server-side cursors (``.iterator()`` would open them outside a transaction)
# and no prepared statements (psycopg prepares a query after 5 runs on a connection). The code keeps
# no other session state: no SET outside a transaction, no advisory or session locks, no temp tables.
if env_bool("DB_PGBOUNCER", False):
    for _db in DATABASES.values():
        if _db["ENGINE"] == "django.db.backends.postgresql":
            _db["DISABLE_SERVER_SIDE_CURSORS"] = True
            _db.setdefault("OPTIONS", {})["prepare_threshold"] = None


def instrumented_engine(engine: str) -> str:
    """The django-prometheus twin of a stock backend (query counts and latencies on /metrics)."""
    prefix = "django.db.backends."
    if engine.startswith(prefix) and engine[len(prefix):] in {"postgresql", "sqlite3", "mysql"}:
        return "django_prometheus.db.backends." + engine[len(prefix):]
    return engine


for _db in DATABASES.values():
    _db["ENGINE"] = instrumented_engine(_db["ENGINE"])

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "backoffice.accounts.backends.LockoutBackend",
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_URL_PATH = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"  # the landing page per role (backoffice.web.views.home)
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# ISO dates in Django's own output (the admin): never US month/day order.
FORMAT_MODULE_PATH = ["backoffice.formats"]

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Uploads: what the attachment and evidence validators accept.
ATTACHMENT_MAX_BYTES = env_int("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# Domain settings.
DISPUTE_DEADLINE_BUFFER_HOURS = env_int("DISPUTE_DEADLINE_BUFFER_HOURS", 48)
DISPUTE_REMINDER_OFFSETS_DAYS = [
    int(x) for x in os.environ.get("DISPUTE_REMINDER_OFFSETS_DAYS", "7,3,1").split(",") if x.strip()
]
REFUND_SWEEP_AFTER_MINUTES = env_int("REFUND_SWEEP_AFTER_MINUTES", 15)
REFUND_APPROVAL_SLA_HOURS = env_int("REFUND_APPROVAL_SLA_HOURS", 48)
DISPUTE_MERCHANT_NAME = os.environ.get("DISPUTE_MERCHANT_NAME", "Billing operations")
STRIPE_TIMEOUT_SECONDS = env_int("STRIPE_TIMEOUT_SECONDS", 20)
ADYEN_TIMEOUT_SECONDS = env_int("ADYEN_TIMEOUT_SECONDS", 20)
PAYMENT_GATEWAY = os.environ.get("PAYMENT_GATEWAY", "sandbox")
STRIPE_API_KEY = os.environ.get("STRIPE_API_KEY", "")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "")
ADYEN_API_KEY = os.environ.get("ADYEN_API_KEY", "")
ADYEN_MERCHANT_ACCOUNT = os.environ.get("ADYEN_MERCHANT_ACCOUNT", "")
ADYEN_ENVIRONMENT = os.environ.get("ADYEN_ENVIRONMENT", "test")
ADYEN_LIVE_PREFIX = os.environ.get("ADYEN_LIVE_PREFIX", "")
ADYEN_API_BASE = os.environ.get("ADYEN_API_BASE", "")
ADYEN_DEFENSE_REASON_CODE = os.environ.get("ADYEN_DEFENSE_REASON_CODE", "SupplyDefenseMaterial")
# A refund without a final PSP answer after this many hours stops being retried and waits for a team lead.
# Stripe keeps idempotency keys for at least 24 hours: re-sending with the same key later could pay twice.
REFUND_PSP_GIVE_UP_HOURS = env_int("REFUND_PSP_GIVE_UP_HOURS", 24)
if not 0 < REFUND_PSP_GIVE_UP_HOURS <= 24:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("REFUND_PSP_GIVE_UP_HOURS must be between 1 and 24 (the PSP keeps idempotency keys "
                               "for at least 24 hours).")
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")  # comma-separated: several during rotation
ADYEN_HMAC_KEY = os.environ.get("ADYEN_HMAC_KEY", "")  # hex, comma-separated: several during rotation
WEBHOOK_TOLERANCE_SECONDS = env_int("WEBHOOK_TOLERANCE_SECONDS", 300)  # oldest signature timestamp accepted
WEBHOOK_MAX_FUTURE_SECONDS = env_int("WEBHOOK_MAX_FUTURE_SECONDS", 60)  # clock skew allowed ahead of ours

# The journal's HMAC keys (backoffice/journal/signing.py): "key_id:secret[,key_id:secret…]", the
# first signs, the rest only verify rows signed before a rotation. Never stored in the database.
JOURNAL_HMAC_KEYS = parse_journal_keys(os.environ.get("JOURNAL_HMAC_KEYS", ""))
DEV_JOURNAL_HMAC_KEYS = [("dev", b"dev-journal-hmac-key-not-for-production")]

# REST API.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "backoffice.accounts.authentication.ExpiringTokenAuthentication",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["backoffice.api.throttling.WriteRateThrottle"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "backoffice.api.pagination.PagePagination",
    "DEFAULT_PARSER_CLASSES": [
        "backoffice.parsing.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "backoffice.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Billing back-office API",
    "DESCRIPTION": "Disputes, refunds and payment extensions as audited state machines.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "backoffice.api.schema.document_refusals",
    ],
}

# Sign-in and sessions (backoffice/accounts). Tokens: hashed, expiring. Lockout: django-axes on the
# login page, the admin and the token endpoint. Throttles: API_THROTTLE_RATES (read per request).
API_TOKEN_TTL_HOURS = env_int("API_TOKEN_TTL_HOURS", 12)
API_THROTTLE_RATES = {
    "login": os.environ.get("API_LOGIN_RATE", "10/min"),
    "write": os.environ.get("API_WRITE_RATE", "120/min"),
}
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
# Lock the account whatever the address: a guesser rotating addresses is stopped too, and a whole
# office behind one address is not locked out by one person's typos. axes.W006 warns about
# user-agent/cookie rotation, which does not apply to a username lockout.
AXES_LOCKOUT_PARAMETERS = ["username"]
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "backoffice.accounts.lockout.lockout_response"
AXES_VERBOSE = False
SESSION_COOKIE_AGE = env_int("SESSION_MAX_AGE_SECONDS", 8 * 3600)  # from sign-in, not renewed
SESSION_IDLE_TIMEOUT = env_int("SESSION_IDLE_TIMEOUT_SECONDS", 30 * 60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
OTP_REQUIRED = env_bool("OTP_REQUIRED", False)  # production: on unless OTP_REQUIRED=0
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "Billing back-office")

# Content-Security-Policy (django-csp): scripts and style sheets only from our own static files (no
# inline <script>, on…= handler, javascript: URL or <style>); style="…" attributes are allowed (the
# progress bars' widths), they cannot run code or select elements.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # plus the one fixed <style> element that DRF's browsable API pages insert at run time
        "style-src": ["'self'", "'sha256-1kn+agGaGZdaFPNbx228buXQB9KXcy9RVE6NMUiW4SQ='"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Celery: REDIS_URL selects a real broker; without it tasks run in-process.
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "max_retries": 1,
    "visibility_timeout": 3600,
}
CELERY_TASK_PUBLISH_RETRY = False
CELERY_RESULT_EXPIRES = None  # no result backend: no "celery.backend_cleanup" schedule either
# Beat and the in-process runner (manage.py run_periodic) share this scheduler: see backoffice/scheduling.py.
CELERY_BEAT_SCHEDULER = "backoffice.scheduling:Scheduler"
CELERY_BEAT_SYNC_EVERY = 1  # write last_run_at after every task sent, not every 3 minutes
# Periodic scans work in bounded batches and stop when their time budget is spent (the next run goes on).
PERIODIC_TASK_BATCH_SIZE = env_int("PERIODIC_TASK_BATCH_SIZE", 500)
PERIODIC_TASK_TIME_BUDGET_SECONDS = env_int("PERIODIC_TASK_TIME_BUDGET_SECONDS", 120)
CELERY_TIMEZONE = "UTC"

# A shared cache (throttle counters) on Redis when there is one; throttles let requests through if
# it cannot be reached (backoffice/api/throttling.py).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "backoffice",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    } if REDIS_URL else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
}

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "backoffice@localhost")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)  # seconds; an outbox lease (10 min) outlasts any one send

# LOG_FORMAT=json: one JSON object per line with request id, user, case reference and task name.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text").strip().lower()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "backoffice.insight.logs.ContextFilter"}},
    "formatters": {
        "kv": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["context"],
                             "formatter": "json" if LOG_FORMAT == "json" else "kv"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
# With JSON logs the Celery worker keeps Django's handlers instead of installing its own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT != "json"

# /metrics (Prometheus): a bearer token and/or client networks; with neither, loopback only.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = [n.strip() for n in os.environ.get("METRICS_ALLOWED_NETWORKS", "").split(",")
                            if n.strip()]
# Anomaly check: a figure is unusual beyond mean ± ANOMALY_BAND_SIGMAS standard deviations of the
# same hours on the trailing 28 days, and by at least ANOMALY_MIN_CHANGE (absolute) from the mean.
ANOMALY_BAND_SIGMAS = float(os.environ.get("ANOMALY_BAND_SIGMAS", "3"))
ANOMALY_MIN_CHANGE = float(os.environ.get("ANOMALY_MIN_CHANGE", "3"))
