"""Settings shared by every mode. Everything that differs between machines is read from the environment."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("DJANGO_SECRET_KEY", default="herald-insecure-local-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "crispy_forms",
    "crispy_bootstrap5",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "import_export",
    "csp",
    "axes",
    "auditlog",
    "accounts",
    "contacts",
    "segments",
    "templates_app",
    "delivery",
    "campaigns",
    "automations",
    "scheduler",
    "dashboard",
    "reports",
    "privacy",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The audit log's actor and address (accounts/middleware.py); API requests name theirs in accounts.authentication.
    "accounts.middleware.AuditlogMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a login refused by the axes backend into the lockout page (templates/registration/locked_out.html).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "accounts.context_processors.herald",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; the busy timeout rides out short write locks.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
    # The covering funnel index's INCLUDE (contact_id) is PostgreSQL's; on SQLite it is a plain index, as intended.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Security: CSP, login lockout, API token throttle (docs/security.md) ---------------------------------
# The dashboard runs no inline script (page scripts are static files); inline styles stay allowed for
# Bootstrap's progress widths and htmx's indicator style. Message views (/v/<token>/) send their own sandboxing
# policy (delivery.views.MESSAGE_CSP). Email previews are `srcdoc` iframes with `sandbox`, which inherit the
# page's policy: the pages that show one add `img-src https:` (config.csp.email_preview) so emails' images load.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out (username, IP) before any password is checked. It needs the request, which
    # Django's LoginView and the admin pass; tests log in with force_login, which does not authenticate.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Five wrong passwords for one username from one address lock that pair out for an hour (or until an Admin
# deletes the attempt in the admin's "Access attempts" or runs `manage.py axes_reset_username <name>`). Keyed on
# the pair, so an attacker cannot lock a user out from everywhere, and one address cannot spray one user.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "accounts.security.client_ip"
# How many reverse proxies in front of Herald append to X-Forwarded-For; 0 (no proxy) uses REMOTE_ADDR.
# The client address (login lockout, API token throttle) is the entry that many from the right.
HERALD_TRUSTED_PROXIES = env.int("HERALD_TRUSTED_PROXIES", default=0)
# Threads of the web process that run Django's requests (config/asgi.py; gunicorn's --threads for config.wsgi).
HERALD_WEB_THREADS = env.int("HERALD_WEB_THREADS", default=8)
# Failed API token authentications per client address within the window; more get 429 until it passes.
API_AUTH_FAILURE_LIMIT = env.int("API_AUTH_FAILURE_LIMIT", default=10)
API_AUTH_FAILURE_WINDOW_SECONDS = env.int("API_AUTH_FAILURE_WINDOW_SECONDS", default=600)

# --- Accounts and access (issue 18 §1; docs/security.md) ---------------------------------------------------
# The OpenAPI schema and docs need a login unless this is on (the embedded default turns it on).
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=False)
# Access tokens made from an API key (POST /api/v1/auth/token): short-lived, because only the key's revocation
# check (made on every request) can end one early.
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": datetime.timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env("JWT_SIGNING_KEY", default=SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
}
# Campaign Managers see and change only the campaigns they created (and their scenarios) when on.
CAMPAIGN_OWNERSHIP_ONLY = env.bool("CAMPAIGN_OWNERSHIP_ONLY", default=False)
# The audit log keeps the address accounts.security.client_ip saw, never a client-written X-Forwarded-For.
AUDITLOG_DISABLE_REMOTE_ADDR = False

# Single sign-on with OpenID Connect (mozilla-django-oidc): off unless OIDC_RP_CLIENT_ID is set; then the IdP's
# endpoints are required (a half-configured SSO stops the boot). The IdP's redirect URI is
# <HERALD_BASE_URL>/oidc/callback/. Roles come from the IdP's group claim at every sign-in (accounts/oidc.py).
OIDC_RP_CLIENT_ID = env("OIDC_RP_CLIENT_ID", default="")
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
OIDC_ROLE_CLAIM = env("OIDC_ROLE_CLAIM", default="groups")
OIDC_ROLE_MAP = env(
    "OIDC_ROLE_MAP", default="herald-admins:Admin,herald-managers:Campaign Manager,herald-viewers:Viewer"
)
OIDC_RP_SIGN_ALGO = env("OIDC_RP_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = env("OIDC_RP_SCOPES", default="openid email profile")
OIDC_OP_ISSUER = env("OIDC_OP_ISSUER", default="")
OIDC_TIMEOUT = env.float("OIDC_TIMEOUT", default=10.0)
LOGIN_REDIRECT_URL_FAILURE = "/login/?sso=failed"
if OIDC_ENABLED:
    OIDC_RP_CLIENT_SECRET = env("OIDC_RP_CLIENT_SECRET")
    OIDC_OP_AUTHORIZATION_ENDPOINT = env("OIDC_OP_AUTHORIZATION_ENDPOINT")
    OIDC_OP_TOKEN_ENDPOINT = env("OIDC_OP_TOKEN_ENDPOINT")
    OIDC_OP_USER_ENDPOINT = env("OIDC_OP_USER_ENDPOINT")
    OIDC_OP_JWKS_ENDPOINT = env("OIDC_OP_JWKS_ENDPOINT")
    AUTHENTICATION_BACKENDS.append("accounts.oidc.HeraldOIDCBackend")

# User-written templates (templates_app.rendering): a preview or one recipient's email stops with a clear error
# past these; a page of a send past DELIVERY_PAGE_RENDER_MAX_SECONDS (well under the page task's time limit).
TEMPLATE_RENDER_MAX_SECONDS = env.float("TEMPLATE_RENDER_MAX_SECONDS", default=2.0)
TEMPLATE_RENDER_MAX_BYTES = env.int("TEMPLATE_RENDER_MAX_BYTES", default=1_000_000)
DELIVERY_PAGE_RENDER_MAX_SECONDS = env.float("DELIVERY_PAGE_RENDER_MAX_SECONDS", default=30.0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT: Path | None = Path(env("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env("HERALD_MEDIA_ROOT", default=str(BASE_DIR / "var" / "media")))
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "login"

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- Redis / Celery --------------------------------------------------------------------------------------
# The embedded default (`make run`, config.settings.local) sets this; it shows the demo login on the sign-in page.
HERALD_EMBEDDED = False
# The Outbox stands in for the recipients' inboxes (the embedded default): its emails show as sent, and opening one
# records an open, its links clicks. Off (elsewhere), staff read a copy without the pixel and redirects
# (delivery/outbox_copy.py) unless they ask for the email as sent.
OUTBOX_AS_INBOX = env.bool("OUTBOX_AS_INBOX", default=False)

REDIS_URL = env("REDIS_URL", default="")
BROKER_DIR = Path(env("HERALD_BROKER_DIR", default=str(BASE_DIR / "var" / "broker")))

if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # Embedded mode: kombu's filesystem transport with atomic writes (config/broker.py: the stock one lets a worker
    # read a half-written message and die); needs no server; the folders are created by the celery app.
    CELERY_BROKER_URL = "herald-fs://localhost//"  # the host is ignored; naming it silences kombu's warning
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "out"),
        "data_folder_out": str(BROKER_DIR / "out"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# A send's pages after the first go one Redis priority step down, so a due scenario is not stuck behind a
# queued send (docs/benchmarks.md, due time: busy max 9.2 s -> 1.1 s). The filesystem broker ignores priorities.
CELERY_TASK_ROUTES = ("scheduler.routing.route_task",)
# The tick's own queue next to the default one: a worker started without -Q consumes both (scheduler/routing.py).
CELERY_TASK_QUEUES = tuple(Queue(name, Exchange(name), routing_key=name) for name in ("celery", "herald_tick"))
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# A page task is acknowledged after it ran, so a worker killed mid-page leaves the message to be redelivered;
# the Delivery rows and the Idempotency-Key make that redelivery harmless.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "scheduler.beat:HeraldScheduler"  # DatabaseScheduler, its full load fixed (scheduler/beat.py)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Herald ---------------------------------------------------------------------------------------------
HERALD_BASE_URL = env("HERALD_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")

# --- privacy (docs/privacy.md) ------------------------------------------------------------------------------
# Fernet keys, comma-separated: the first encrypts, all decrypt (rotation: prepend a new key, then
# `manage.py rotate_encryption_keys`). This default is for local and test use only; production requires the variable.
HERALD_ENCRYPTION_KEYS = env.list("HERALD_ENCRYPTION_KEYS", default=["bG9jYWwtZGV2LWtleS1ub3QtZm9yLXByb2R1Y3Rpb24="])
# Keys the HMAC of emails on the suppression list and the mobile blind index. Changing it orphans the stored
# hashes (an erased address could be imported again): set it once, keep it.
HERALD_HASH_KEY = env("HERALD_HASH_KEY", default=SECRET_KEY)
# Tracking rows, outbox copies and webhook payloads older than this many days are deleted daily; unset keeps them.
HERALD_RETENTION_DAYS = env.int("HERALD_RETENTION_DAYS", default=None)
HERALD_RETENTION_AT = env("HERALD_RETENTION_AT", default="03:30")
# Uploaded import files are deleted when their import ends; > 0 keeps them this many days (then the daily purge).
HERALD_IMPORT_KEEP_UPLOADS_DAYS = env.int("HERALD_IMPORT_KEEP_UPLOADS_DAYS", default=0)
# Daily beat entries of the apps above the scheduler: (name, task, "HH:MM" in TIME_ZONE); written by schedule_sync.
SCHEDULER_DAILY_TASKS = [("herald: retention purge", "privacy.tasks.retention_purge_task", HERALD_RETENTION_AT)]
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Herald <herald@localhost>")
EMAIL_TRANSPORT = env("EMAIL_TRANSPORT", default="outbox")
RESEND_API_KEY = env("RESEND_API_KEY", default="")
RESEND_API_URL = env("RESEND_API_URL", default="https://api.resend.com")
RESEND_RATE_LIMIT = env.float("RESEND_RATE_LIMIT", default=2.0)
RESEND_HOURLY_CAP = env.int("RESEND_HOURLY_CAP", default=0)
RESEND_TIMEOUT = env.float("RESEND_TIMEOUT", default=30.0)
# The webhook's Svix signing secret (whsec_...); unset: POST /webhooks/resend answers 503 and stores nothing.
RESEND_WEBHOOK_SECRET = env("RESEND_WEBHOOK_SECRET", default="")
# Open pixel and click redirects (docs/tracking.md): off here turns them off for every send created afterwards.
HERALD_TRACK_OPENS = env.bool("HERALD_TRACK_OPENS", default=True)
HERALD_TRACK_CLICKS = env.bool("HERALD_TRACK_CLICKS", default=True)
# Where the pixel and the redirect put a hit: "redis" (the web process's spool file, shipped to a Redis list that a
# worker flushes in batches; the default with REDIS_URL) or "direct" (stored by the request itself; the default
# without Redis, and the fallback when Redis fails).
TRACKING_BUFFER = env("TRACKING_BUFFER", default="")
TRACKING_FLUSH_BATCH = env.int("TRACKING_FLUSH_BATCH", default=5000)
# The spool (delivery/services/tracking_spool.py): one append-only file per web process, shipped to Redis by a thread
# of that process every TRACKING_SPOOL_SHIP_MS. Files left by a dead process are shipped by the next one, so the
# directory should outlive the process (docker-compose.yml gives it a volume).
TRACKING_SPOOL_DIR = Path(env("HERALD_TRACKING_SPOOL_DIR", default=str(BASE_DIR / "var" / "tracking-spool")))
TRACKING_SPOOL_SHIPPER = env.bool("TRACKING_SPOOL_SHIPPER", default=True)
TRACKING_SPOOL_SHIP_MS = env.int("TRACKING_SPOOL_SHIP_MS", default=25)
# Classification windows (delivery/classify.py): an image proxy this soon after the send is a prefetch; a click
# with no open this soon after the send is a scanner; this many distinct links within TRACKING_BURST_SECONDS too.
TRACKING_PROXY_SECONDS = env.int("TRACKING_PROXY_SECONDS", default=60)
TRACKING_SCANNER_SECONDS = env.int("TRACKING_SCANNER_SECONDS", default=120)
TRACKING_BURST_SECONDS = env.int("TRACKING_BURST_SECONDS", default=5)
TRACKING_BURST_LINKS = env.int("TRACKING_BURST_LINKS", default=3)
DELIVERY_PAGE_SIZE = 100
DELIVERY_MAX_ATTEMPTS = env.int("DELIVERY_MAX_ATTEMPTS", default=8)
# A stalled `sending` send (no progress for this long) has its queued pages re-enqueued by the watchdog. Longer than
# the slowest healthy page (rate-limiter wait + provider timeout), short enough that a crash costs under a minute.
DELIVERY_WATCHDOG_SECONDS = env.float("DELIVERY_WATCHDOG_SECONDS", default=45.0)
# Pages of one send enqueued at once (a few per worker process); each finished page releases the next, so a new
# send never waits long.
DELIVERY_WINDOW_PAGES = env.int("DELIVERY_WINDOW_PAGES", default=32)
# The snapshot in two parts (PostgreSQL): this many recipients are written and their first page released before
# the rest of the audience is written (by another task, while that page sends). 0: the whole audience first.
DELIVERY_SNAPSHOT_FIRST_ROWS = env.int("DELIVERY_SNAPSHOT_FIRST_ROWS", default=100)
# The page path's statements are prepared per connection; turn off behind a transaction-pooling PgBouncer < 1.21.
DELIVERY_PREPARED_STATEMENTS = env.bool("DELIVERY_PREPARED_STATEMENTS", default=True)
DELIVERY_ERROR_PAUSE_RATE = env.float("DELIVERY_ERROR_PAUSE_RATE", default=0.2)


def parse_daily_at(value: str) -> str:
    """SCHEDULER_DAILY_AT as "HH:MM" (24-hour; "6" and "6:30" accepted). A value that is not a time of day stops
    every process at start instead of failing the daily plan's schedule later."""
    match = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?", value.strip())
    hour, minute = (int(match.group(1)), int(match.group(2) or 0)) if match else (-1, -1)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ImproperlyConfigured(f"SCHEDULER_DAILY_AT must be a time of day as HH:MM (e.g. 06:00), not {value!r}.")
    return f"{hour:02d}:{minute:02d}"


SCHEDULER_DAILY_AT = parse_daily_at(env("SCHEDULER_DAILY_AT", default="06:00"))
SCHEDULER_TICK_SECONDS = env.float("SCHEDULER_TICK_SECONDS", default=1.0)
# What the scheduler (the top app) runs, in order, as dotted paths: lower apps never import it, it imports these.
# A plan hook is called as hook(day=, now=) and returns how many runs it planned; a tick hook as hook(now=) and
# returns a count or a dict of counts by name (scheduler/services.py).
SCHEDULER_PLAN_HOOKS = ["campaigns.services.campaigns_plan_day"]
SCHEDULER_TICK_HOOKS = ["campaigns.services.campaigns_tick", "delivery.services.watchdog"]
SCHEDULER_TICK_HOOKS += ["delivery.services.notices_redeliver"]  # engine events a dying process never published
SCHEDULER_TICK_HOOKS += ["automations.services.automations_catch_up"]  # firings missed while beat was down
SCHEDULER_TICK_HOOKS += ["automations.journeys.journeys_tick"]  # due journey enrollments (issue 16)
SCHEDULER_TICK_HOOKS += ["automations.journeys.journeys_segment_tick"]  # segment-entry trigger checks (enqueued)
SCHEDULER_TICK_HOOKS += ["delivery.services.tracking.tracking_tick"]  # buffered opens/clicks flushed (enqueued)
# A segment-triggered journey's segment is checked this often, and after contact writes at most this often.
JOURNEY_SEGMENT_CHECK_SECONDS = env.int("JOURNEY_SEGMENT_CHECK_SECONDS", default=300)
JOURNEY_SEGMENT_DEBOUNCE_SECONDS = env.int("JOURNEY_SEGMENT_DEBOUNCE_SECONDS", default=10)
# The tick advances due enrollments in batches for at most this long; a backlog left over goes to
# JOURNEY_DRAIN_TASKS worker tasks, each draining batches of JOURNEY_DRAIN_BATCH for JOURNEY_DRAIN_SECONDS
# (docs/journeys.md, bench/journeys.py). Keep JOURNEY_DRAIN_TASKS below the worker concurrency: the tick needs a slot.
# A batch advances set-based by group (automations/journey_groups.py): its fixed costs (a Send, its pages, a commit)
# are paid once per 20,000 enrollments; two drains keep both cores busy while the third process sends.
JOURNEY_TICK_BATCH = env.int("JOURNEY_TICK_BATCH", default=500)
JOURNEY_TICK_BUDGET_SECONDS = env.float("JOURNEY_TICK_BUDGET_SECONDS", default=0.3)
JOURNEY_DRAIN_TASKS = env.int("JOURNEY_DRAIN_TASKS", default=2)
JOURNEY_DRAIN_BATCH = env.int("JOURNEY_DRAIN_BATCH", default=20_000)
JOURNEY_DRAIN_SECONDS = env.float("JOURNEY_DRAIN_SECONDS", default=20.0)
# The journey page's step counts and funnel read every history row and delivery of a journey (seconds at 1M
# enrollments): from this many enrollments on they are recounted at most every N seconds (docs/journeys.md).
JOURNEY_FIGURES_CACHE_FROM = env.int("JOURNEY_FIGURES_CACHE_FROM", default=50_000)
JOURNEY_FIGURES_CACHE_SECONDS = env.int("JOURNEY_FIGURES_CACHE_SECONDS", default=30)
CONTACT_EVENT_HOOKS = ["automations.journeys.journeys_on_new_rows"]  # journey triggers (contacts/hooks.py)
# --- reports (docs/reports.md) -----------------------------------------------------------------------------------
SCHEDULER_TICK_HOOKS += ["reports.services.reports_tick"]  # recompute the reports of live sends (throttled)
# Told which email's link a contact unsubscribed through (delivery/services/edges.py).
UNSUBSCRIBE_HOOKS = ["reports.services.unsubscribe_recorded"]
# The funnel stage that counts as a conversion, and the attribution window, unless a campaign, automation or
# journey sets its own on its report page.
HERALD_CONVERSION_STAGE = env("HERALD_CONVERSION_STAGE", default="converted")
HERALD_ATTRIBUTION_DAYS = env.int("HERALD_ATTRIBUTION_DAYS", default=7)
# The currency of funnel events' amounts (one for the whole install; shown beside revenue, never converted).
HERALD_CURRENCY = env("HERALD_CURRENCY", default="USD")
# A live send's report (started within REPORTS_LIVE_DAYS) is recomputed when older than REPORTS_STALE_SECONDS;
# pages compute it inline up to REPORTS_INLINE_MAX recipients, workers beyond; the tick looks every
# REPORTS_REFRESH_SECONDS and queues at most REPORTS_TICK_BATCH sends.
REPORTS_STALE_SECONDS = env.int("REPORTS_STALE_SECONDS", default=300)
REPORTS_LIVE_DAYS = env.int("REPORTS_LIVE_DAYS", default=30)
REPORTS_INLINE_MAX = env.int("REPORTS_INLINE_MAX", default=5000)
REPORTS_REFRESH_SECONDS = env.int("REPORTS_REFRESH_SECONDS", default=60)
REPORTS_TICK_BATCH = env.int("REPORTS_TICK_BATCH", default=20)
# Condition types other apps add to rules segments (segments/rules/extensions.py): opened / clicked / bounced.
SEGMENT_RULE_CONDITIONS = ["delivery.segment_conditions.engagement_condition"]
# The dashboard at `/` (docs/dashboard.md): its daily figures are recomputed by a worker this often (the tick
# enqueues the task), over this many days.
SCHEDULER_TICK_HOOKS += ["dashboard.services.dashboard_tick"]
DASHBOARD_STATS_SECONDS = env.int("DASHBOARD_STATS_SECONDS", default=300)
DASHBOARD_DAYS = env.int("DASHBOARD_DAYS", default=30)
NOTIFY_LEAD_MINUTES = env.int("NOTIFY_LEAD_MINUTES", default=15)
NOTIFY_BY_EMAIL = env.bool("NOTIFY_BY_EMAIL", default=False)
# An automation firing missed (beat down) is caught up once if less late than this, else recorded as skipped.
AUTOMATION_CATCHUP_MINUTES = env.int("AUTOMATION_CATCHUP_MINUTES", default=60)
SEGMENT_SQL_TIMEOUT_MS = env.int("SEGMENT_SQL_TIMEOUT_MS", default=5000)
# An import creating at least this many contacts writes their attributes on a second database session, at the same
# time as the contacts (contacts/importing/merge.py SideSession); 0 keeps every import on one session.
IMPORT_PARALLEL_MIN_CONTACTS = env.int("IMPORT_PARALLEL_MIN_CONTACTS", default=20_000)
# Bounds on an uploaded CSV (every path that parses one): a file wider or with a longer line is refused with a
# message before any per-column work; the cost of a row then depends on these, not on what the file claims.
IMPORT_MAX_COLUMNS = env.int("IMPORT_MAX_COLUMNS", default=500)
IMPORT_MAX_LINE_BYTES = env.int("IMPORT_MAX_LINE_BYTES", default=1 << 20)
SEGMENT_WORK_MEM = env.str("SEGMENT_WORK_MEM", default="64MB")  # PostgreSQL work_mem for segment counts and pages

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)

# --- API ------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ThrottledTokenAuthentication",
        "accounts.authentication.ApiKeyAuthentication",
        "accounts.jwt.ApiKeyJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "accounts.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Herald API",
    "DESCRIPTION": "Contacts, segments, templates, campaigns and scenarios.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # A login unless API_DOCS_PUBLIC (the page itself: accounts.permissions.api_docs_login in config/urls.py).
    "SERVE_PERMISSIONS": ["accounts.permissions.ApiDocsPermission"],
    # Routes that answer with and without a trailing slash are documented once, as written (config/api_paths.py).
    "PREPROCESSING_HOOKS": ["config.api_paths.drop_slashed_duplicates"],
    # Several models have a `status` field with different choices: name each enum after its model.
    "ENUM_NAME_OVERRIDES": {
        "CampaignStatusEnum": "campaigns.models.Campaign.Status",
        "ScenarioStatusEnum": "campaigns.models.Scenario.Status",
        "ContactStatusEnum": "contacts.models.Contact.Status",
        "ImportJobStatusEnum": "contacts.models.ImportJob.Status",
        "SendStatusEnum": "delivery.models.Send.Status",
        "DeliveryStatusEnum": "delivery.models.Delivery.Status",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One line per task received/succeeded drowns the log under the once-a-second scheduler tick;
        # failures are still logged at ERROR. LOG_LEVEL=DEBUG brings everything back.
        "celery.app.trace": {"level": env("CELERY_TASK_LOG_LEVEL", default="WARNING")},
        "celery.worker.strategy": {"level": env("CELERY_TASK_LOG_LEVEL", default="WARNING")},
        "celery.beat": {"level": env("CELERY_TASK_LOG_LEVEL", default="WARNING")},
        # django-axes announces its version at every start, `manage.py` commands included (mixed into their
        # output); its lockout and login-failure lines come from other loggers and stay.
        "axes.apps": {"level": "WARNING"},
    },
}
