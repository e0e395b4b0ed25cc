"""The one settings module: every value comes from the environment (or `.env`), with embedded defaults
that run on a fresh machine — SQLite, a broker on the local filesystem, and the local provider."""

import os
import re
from pathlib import Path
from urllib.parse import quote, urlsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A `.env` next to manage.py is read if present; real environment variables win over it.
env.read_env(env.str("JIMENG_ENV_FILE", default=str(BASE_DIR / ".env")), overwrite=False)

# Where the embedded defaults keep their state (SQLite file, broker folders, generated images).
DATA_DIR = Path(env.str("JIMENG_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()

# --- Core -------------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY",
    default="insecure-local-only-key-set-DJANGO_SECRET_KEY-in-production",
)
SERVER_HOST = env.str("SERVER_HOST", default="127.0.0.1")
SERVER_PORT = env.int("SERVER_PORT", default=8000)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver", SERVER_HOST])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "jimeng_server.apps.JimengServerConfig",  # first: its start-up (folders, metrics store, checks) runs first
    *(
        [
            "jimeng_server.mongo_apps.MongoAdminConfig",
            "jimeng_server.mongo_apps.MongoAuthConfig",
            "jimeng_server.mongo_apps.MongoContentTypesConfig",
            "jimeng_server.mongo_apps.MongoAxesConfig",
            "django_mongodb_backend",
        ]
        if env.str("MONGODB_URI", default="")
        else ["django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes", "axes"]
    ),
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_prometheus",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "users",
    "imagetasks",
    "providers",
]

MIDDLEWARE = [
    "jimeng_server.proxies.TrustedProxyHeaders",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "jimeng_server.middleware.BodySizeLimit",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "jimeng_server.urls"
WSGI_APPLICATION = "jimeng_server.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
# MONGODB_URI selects MongoDB (django-mongodb-backend); else DATABASE_URL; else a SQLite file in DATA_DIR.
MONGODB_URI = env.str("MONGODB_URI", default="")
MONGODB_DATABASE = env.str("MONGODB_DATABASE", default="jimeng")
USE_MONGODB = bool(MONGODB_URI)
if USE_MONGODB:
    DATABASES = {
        "default": {
            "ENGINE": "jimeng_server.mongodb",  # django-mongodb-backend, duplicate keys by code
            "HOST": MONGODB_URI,
            "NAME": MONGODB_DATABASE,
        }
    }
    # Django's contrib apps declare AutoField ids, which MongoDB cannot hold: their MongoDB app
    # configs use ObjectIdAutoField, with migrations of their own (mongo_migrations/).
    DEFAULT_AUTO_FIELD = "django_mongodb_backend.fields.ObjectIdAutoField"
    MIGRATION_MODULES = {
        "admin": "mongo_migrations.admin",
        "auth": "mongo_migrations.auth",
        "contenttypes": "mongo_migrations.contenttypes",
        "axes": "mongo_migrations.axes",
    }
else:
    _sqlite_default = f"sqlite:///{DATA_DIR / 'db.sqlite3'}"
    DATABASES = {"default": env.db_url("DATABASE_URL", default=_sqlite_default)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        # Web and worker processes write concurrently: WAL lets readers through, IMMEDIATE makes a
        # writer take the lock up front (no deadlock-prone upgrade), and the timeout waits instead
        # of failing.
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": env.int("SQLITE_TIMEOUT_SECONDS", default=30),
            }
        )
    # Keep a connection across requests and Celery tasks (a new one per task cost ~5% of a worker).
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=600))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DEFAULT_AUTO_FIELD = "django.db.models.AutoField"  # Django's contrib apps only; ours use string ids.

# The admin's login: django-axes locks out a username from an address after repeated failures.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("ADMIN_LOGIN_COOLOFF_HOURS", default=1.0)  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_CLIENT_IP_CALLABLE = "jimeng_server.proxies.client_ip"
# Where the admin lives (a path of its own makes it harder to find for scanners).
ADMIN_URL = env.str("ADMIN_URL", default="admin/").strip("/") + "/"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files and generated images ----------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(DATA_DIR / "static")))
MEDIA_URL = env.str("DJANGO_MEDIA_URL", default="/media/")
MEDIA_ROOT = Path(env.str("DJANGO_MEDIA_ROOT", default=str(DATA_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": env.str("DJANGO_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage")},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Object storage (any S3-compatible service, through django-storages): with S3_BUCKET set, generated
# images and uploaded references live in the bucket and no host needs a shared disk. Clients always
# get a stable URL on this server (/media/...), which redirects to a freshly signed URL, or to
# S3_PUBLIC_BASE_URL when the bucket is public (or behind a CDN).
S3_BUCKET = env.str("S3_BUCKET", default="")
S3_PUBLIC_BASE_URL = env.str("S3_PUBLIC_BASE_URL", default="").rstrip("/")
S3_URL_EXPIRY_SECONDS = env.int("S3_URL_EXPIRY_SECONDS", default=3600)
# Stored images and uploads of tasks finished longer ago than this are deleted (unset: kept forever).
IMAGE_RETENTION_DAYS = env.float("IMAGE_RETENTION_DAYS", default=0) or None
if S3_BUCKET:
    from botocore.config import Config as BotoConfig

    _s3_endpoint = env.str("S3_ENDPOINT_URL", default="")
    _public = urlsplit(S3_PUBLIC_BASE_URL) if S3_PUBLIC_BASE_URL else None
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": _s3_endpoint or None,
            "access_key": env.str("S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("S3_SECRET_ACCESS_KEY", default="") or None,
            "region_name": env.str("S3_REGION", default="us-east-1"),
            "querystring_auth": _public is None,
            "querystring_expire": S3_URL_EXPIRY_SECONDS,
            "custom_domain": (_public.netloc + _public.path) if _public else None,
            "url_protocol": f"{_public.scheme}:" if _public else "https:",
            "file_overwrite": True,  # names are unique per task and attempt: no HEAD before each write
            # (django-storages ignores its own addressing_style and signature_version beside a config.)
            "client_config": BotoConfig(
                # Self-hosted servers (MinIO, SeaweedFS) answer on one host: path style; AWS, TOS: virtual.
                s3={"addressing_style": env.str("S3_ADDRESSING_STYLE", default="path" if _s3_endpoint else "virtual")},
                signature_version="s3v4",
                connect_timeout=5,
                read_timeout=30,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        },
    }
# When set, image URLs in API responses start with it (e.g. a CDN or the public hostname); otherwise
# they are built from the request's own host.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="").rstrip("/")

# --- REST API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["jimeng_server.api.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["jimeng_server.api.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["jimeng_server.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["jimeng_server.auth.HasApiAccess"],
    "DEFAULT_THROTTLE_CLASSES": ["jimeng_server.auth.ApiKeyRateThrottle"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "jimeng_server.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Jimeng Server API",
    "DESCRIPTION": "Asynchronous image and video generation: create a task, get its id at once, poll for the result.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's files ship with the server (drf-spectacular-sidecar), so /api/docs/ works offline.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "TaskKindEnum": "imagetasks.models.Kind",
        "TaskTypeEnum": "imagetasks.api.serializers.TASK_TYPES",
    },
}

# --- Queue ------------------------------------------------------------------------------------
# CELERY_BROKER_URL wins; else the original product's REDIS_ADDR/REDIS_PASSWORD/REDIS_DB; else a
# broker kept in files under DATA_DIR, which needs no server (one machine only; see README).
REDIS_ADDR = env.str("REDIS_ADDR", default="")
REDIS_PASSWORD = env.str("REDIS_PASSWORD", default="")
REDIS_DB = env.int("REDIS_DB", default=0)
if REDIS_ADDR:
    _auth = f":{quote(REDIS_PASSWORD, safe='')}@" if REDIS_PASSWORD else ""
    _redis_default = f"redis://{_auth}{REDIS_ADDR}/{REDIS_DB}"
else:
    _redis_default = ""
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=_redis_default or "filesystem://")
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": env.float("FILESYSTEM_BROKER_POLL_SECONDS", default=0.2),
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A message not acknowledged within this window is delivered again; it must exceed the longest
    # single run of a task (tasks are short: a claim, one upstream call, a save).
    # A publish while Redis is away fails at once instead of retrying for seconds inside a request:
    # the task's row says what is due, and the reconciler sends it when Redis is back. (Workers
    # reconnect with their own retry settings; these options are the publisher's.)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("REDIS_VISIBILITY_TIMEOUT", default=3600),
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.2,
    }
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="imagetasks")
# Webhook deliveries wait on other people's servers: they run on a queue and worker pool of their own,
# so that a slow receiver never holds a worker that generates images.
CELERY_WEBHOOK_QUEUE = env.str("CELERY_WEBHOOK_QUEUE", default="webhooks")
CELERY_TASK_ROUTES = {"imagetasks.deliver_webhook": {"queue": CELERY_WEBHOOK_QUEUE}}
CELERY_TASK_IGNORE_RESULT = True  # the database holds every result; no result backend needed
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
# Celery's Django fix-up closes the database connection around every task unless this is set; the
# worker instead keeps it as the web does (CONN_MAX_AGE, health checks: jimeng_server/celery.py).
# Reopening cost a SQLite worker ~7% of its time (PRAGMAs and all) in `make bench`'s P1.
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BEAT_SCHEDULE = {
    "reconcile-image-tasks": {
        "task": "imagetasks.reconcile",
        "schedule": env.float("RECONCILE_INTERVAL_SECONDS", default=30.0),
    },
    # Expired idempotency keys and limit counters.
    "clean-up": {"task": "imagetasks.clean_up", "schedule": env.float("CLEANUP_INTERVAL_SECONDS", default=3600.0)},
}

# --- Image tasks --------------------------------------------------------------------------------
# A claimed task whose worker has not finished within this lease is taken over by the reconciler.
TASK_LEASE_SECONDS = env.int("TASK_LEASE_SECONDS", default=300)
# A pending task nobody claimed for this long is enqueued again (the broker may have lost it).
TASK_REQUEUE_AFTER_SECONDS = env.int("TASK_REQUEUE_AFTER_SECONDS", default=60)
TASK_MAX_ATTEMPTS = env.int("TASK_MAX_ATTEMPTS", default=5)
# An upstream that lost a generation (not_found, expired, output moderation) gets it again this often.
TASK_MAX_RESUBMITS = env.int("TASK_MAX_RESUBMITS", default=1)
TASK_LIST_MAX_PAGE_SIZE = env.int("TASK_LIST_MAX_PAGE_SIZE", default=100)
# An Idempotency-Key is remembered this long; a request that claimed one and died before creating its
# task holds it this many seconds, then a repeat takes it over.
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
IDEMPOTENCY_CLAIM_SECONDS = env.int("IDEMPOTENCY_CLAIM_SECONDS", default=30)

# --- Providers ----------------------------------------------------------------------------------
# auto: use Volcengine when its credentials are set, the local provider otherwise.
# local: always draw locally. live: refuse to run a model whose provider has no credentials.
PROVIDER_MODE = env.str("PROVIDER_MODE", default="auto")
# The upstreams this server runs: each a module with one Provider subclass named PROVIDER that declares
# its models (providers/base.py). The local provider is always there, the fallback of every model.
PROVIDER_MODULES = env.list("PROVIDER_MODULES", default=["providers.ark", "providers.jimeng", "providers.seedance"])
VOLCENGINE_ACCESS_KEY = env.str("VOLCENGINE_ACCESS_KEY", default="")
VOLCENGINE_SECRET_KEY = env.str("VOLCENGINE_SECRET_KEY", default="")
VOLCENGINE_HOST = env.str("VOLCENGINE_HOST", default="visual.volcengineapi.com")
VOLCENGINE_SCHEME = env.str("VOLCENGINE_SCHEME", default="https")
VOLCENGINE_CONNECT_TIMEOUT_SECONDS = env.float("VOLCENGINE_CONNECT_TIMEOUT_SECONDS", default=5.0)
VOLCENGINE_READ_TIMEOUT_SECONDS = env.float("VOLCENGINE_READ_TIMEOUT_SECONDS", default=30.0)
ARK_API_KEY = env.str("ARK_API_KEY", default="")
# Several upstream accounts (a pool): JSON lists of {"name", credentials, "concurrency", "weight"}; each
# replaces its single-key setting above. See the README's "Upstream accounts".
VOLCENGINE_ACCOUNTS = env.json("VOLCENGINE_ACCOUNTS", default=[])
ARK_ACCOUNTS = env.json("ARK_ACCOUNTS", default=[])
ACCOUNT_REST_SECONDS = env.float("ACCOUNT_REST_SECONDS", default=10.0)  # a throttled account rests this long
# Credits (users/credits.py): the price of one image per model, JSON {model_id: credits}; 1 when not listed.
MODEL_PRICES = env.json("MODEL_PRICES", default={})
# A credit reservation no task holds (its request died, or lost a race, before saying so) is given back by
# the reconciler once it is this old: longer than any request lives.
CREDITS_ORPHAN_SECONDS = env.int("CREDITS_ORPHAN_SECONDS", default=600)
ARK_BASE_URL = env.str("ARK_BASE_URL", default="https://ark.cn-beijing.volces.com/api/v3")
ARK_CONNECT_TIMEOUT_SECONDS = env.float("ARK_CONNECT_TIMEOUT_SECONDS", default=5.0)
ARK_READ_TIMEOUT_SECONDS = env.float("ARK_READ_TIMEOUT_SECONDS", default=180.0)
ARK_WATERMARK = env.bool("ARK_WATERMARK", default=False)
DEFAULT_MODEL = env.str("DEFAULT_MODEL", default="doubao-seedream-3-0-t2i-250415")
# The video model of a request that names none: jimeng_v30 picks text-to-video, first frame or first and
# last frame by the number of reference images.
DEFAULT_VIDEO_MODEL = env.str("DEFAULT_VIDEO_MODEL", default="jimeng_v30")
LOCAL_PROVIDER_LATENCY_SECONDS = env.float("LOCAL_PROVIDER_LATENCY_SECONDS", default=1.0)
LOCAL_PROVIDER_FAILURE_RATE = env.float("LOCAL_PROVIDER_FAILURE_RATE", default=0.0)
LOCAL_PROVIDER_FONT = env.str("LOCAL_PROVIDER_FONT", default="")  # a TrueType font with CJK glyphs

# --- Who may call, and running safely off loopback ----------------------------------------------------
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
# Production settings: set JIMENG_PRODUCTION=true (or bind SERVER_HOST beyond loopback).
PRODUCTION = env.bool("JIMENG_PRODUCTION", default=False) or SERVER_HOST not in _LOOPBACK
# API keys: "auto" requires them in production and lets loopback-only embedded runs go without (never
# for a request relayed by a proxy); "required" always; "off" never (refused in production).
API_AUTH = env.str("API_AUTH", default="auto")
# Reverse proxies whose X-Forwarded-* headers are believed (addresses or networks). A request from one
# is never local, and X-Forwarded-Proto from anyone else is ignored.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
API_KEYS_REQUIRED = API_AUTH == "required" or (API_AUTH == "auto" and PRODUCTION)


# Start-up refuses a configuration jimeng_server/checks.py finds unsafe; this lets it start anyway.
ALLOW_INSECURE = env.bool("JIMENG_ALLOW_INSECURE", default=False)


if PRODUCTION:
    SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    if env.bool("DJANGO_BEHIND_TLS_PROXY", default=True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BYTES", default=256 * 1024)  # request bodies
# The web server's edge (jimeng_server/edge.py): the request line and headers together, how many headers,
# and how long a client may take to send them (431, 431, 408).
HTTP_MAX_HEADER_BYTES = env.int("HTTP_MAX_HEADER_BYTES", default=32 * 1024)
HTTP_MAX_HEADERS = env.int("HTTP_MAX_HEADERS", default=100)
HTTP_HEADER_TIMEOUT_SECONDS = env.float("HTTP_HEADER_TIMEOUT_SECONDS", default=10.0)
DATA_UPLOAD_MAX_NUMBER_FILES = 16  # /v1/images/edits takes at most 14 images; more is a 400
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="600/min")  # per API key; empty: no limit
USER_DAILY_TASK_QUOTA = env.int(
    "USER_DAILY_TASK_QUOTA", default=10000
)  # tasks a user may create per UTC day; 0: no limit
USER_MAX_ACTIVE_TASKS = env.int("USER_MAX_ACTIVE_TASKS", default=1000)  # pending + processing per user; 0: no limit
# Counters of the rate limit: in Redis when Redis is the broker (shared by every web process).
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CELERY_BROKER_URL}}

# --- jimeng_server: logging and metrics ---------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
# Metrics: every process of a machine (web and worker) writes here and /metrics adds them up. Set
# before prometheus_client is imported. METRICS_TOKEN, when set, is required as a Bearer token.
PROMETHEUS_MULTIPROC_DIR = Path(env.str("PROMETHEUS_MULTIPROC_DIR", default=str(DATA_DIR / "metrics")))
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- jimeng_server: outbound requests to addresses others chose (webhooks, upstream image URLs) ----
# Networks exempt from the loopback/private/link-local/metadata block, e.g. "10.20.0.0/16" for an
# internal webhook receiver, or "127.0.0.0/8" for a fake upstream on this machine.
OUTBOUND_ALLOWED_NETWORKS = env.list("OUTBOUND_ALLOWED_NETWORKS", default=[])

# --- imagetasks: the pipeline (deadline, retries, caps, polling) ------------------------------------
# A task still generating this long after it was submitted fails as timed out.
TASK_DEADLINE_SECONDS = env.int("TASK_DEADLINE_SECONDS", default=1800)
TASK_RETRY_BACKOFF_SECONDS = env.float("TASK_RETRY_BACKOFF_SECONDS", default=2.0)
TASK_RETRY_BACKOFF_MAX_SECONDS = env.float("TASK_RETRY_BACKOFF_MAX_SECONDS", default=60.0)
# Queue for synchronous upstreams (Ark): served by a thread-pool worker, so that many wait at once.
CELERY_IO_QUEUE = env.str("CELERY_IO_QUEUE", default="imagetasks-io")
# Concurrency caps: generations running at once upstream, across all workers. "jimeng=8,ark=8,seedance=2"
# (Seedance videos: a video account starts at 1-2 at once); a provider or model left out (or 0) is unlimited.


def _caps(name: str, default: dict[str, int]) -> dict[str, int]:
    """`jimeng=8,ark=8`: pairs of name=number, separated by commas, semicolons or spaces (`name:number`
    too), into {"jimeng": 8, "ark": 8}; anything else refuses to start, saying so."""
    raw = env.str(name, default=None)
    if raw is None:
        return dict(default)
    caps = {}
    for pair in filter(None, re.split(r"[,;\s]+", raw)):
        match = re.fullmatch(r"([^=:]+)[=:](\d{1,9})", pair)
        if match is None:
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(
                f"{name}: {pair!r} is not name=number (e.g. {name}=jimeng=8,ark=8; pairs separated by ',' or ';')"
            )
        caps[match.group(1)] = int(match.group(2))
    return caps


UPSTREAM_CONCURRENCY = _caps("UPSTREAM_CONCURRENCY", {"jimeng": 8, "ark": 8, "seedance": 2})
if "UPSTREAM_CONCURRENCY" not in os.environ:
    # A pool's default cap is what its accounts allow together (8 images for an account that names no
    # concurrency of its own; videos 2 at most per account), not the single key's.
    for _provider, _pool, _each, _most in (
        ("jimeng", VOLCENGINE_ACCOUNTS, 8, None),
        ("ark", ARK_ACCOUNTS, 8, None),
        ("seedance", ARK_ACCOUNTS, 2, 2),
    ):
        if isinstance(_pool, list) and _pool:
            _account_caps = [int(a.get("concurrency") or _each) if isinstance(a, dict) else _each for a in _pool]
            UPSTREAM_CONCURRENCY[_provider] = sum(min(cap, _most or cap) for cap in _account_caps)
MODEL_CONCURRENCY = _caps("MODEL_CONCURRENCY", {})
# Where the caps are kept: Redis at this URL; default the broker when it is Redis, else the database.
CAPACITY_REDIS_URL = env.str("CAPACITY_REDIS_URL", default="")
# A task finding its cap full waits (pending) until a slot frees; the reconciler wakes at most this
# many per provider per run when wake-ups were lost.
RECONCILE_WAKE_BATCH = env.int("RECONCILE_WAKE_BATCH", default=100)
# A submit that timed out may still have been accepted: its slot stays taken this long (the upstream
# may be generating), and the task's next attempt waits as long.
CAPACITY_IN_FLIGHT_HOLD_SECONDS = env.float("CAPACITY_IN_FLIGHT_HOLD_SECONDS", default=60.0)
# Polling an async upstream: every elapsed*POLL_FACTOR seconds, within [POLL_MIN, POLL_MAX].
POLL_MIN_SECONDS = env.float("POLL_MIN_SECONDS", default=0.5)
POLL_MAX_SECONDS = env.float("POLL_MAX_SECONDS", default=5.0)
POLL_FACTOR = env.float("POLL_FACTOR", default=0.1)
# For `make bench`'s baseline only: a worker polls in place, holding its process while the upstream
# generates (how the original Go server worked). Never in production: one generation per process.
WORKER_BLOCKING_POLL = env.bool("WORKER_BLOCKING_POLL", default=False)

# How often a worker's dispatcher looks for new tasks when the outbox was empty (a create's message
# leaves from there: this bounds what it adds to a task's start).
OUTBOX_POLL_SECONDS = env.float("OUTBOX_POLL_SECONDS", default=0.05)

# --- imagetasks: waiting on a task, and the OpenAI-compatible endpoints -------------------------------
# Waiting on a task (`Prefer: wait=N`, the SSE stream, the OpenAI endpoint): the longest long-poll,
# the longest stream, the keep-alive of a quiet stream, and (without Redis) how often to look.
LONG_POLL_MAX_SECONDS = env.int("LONG_POLL_MAX_SECONDS", default=60)
SSE_MAX_SECONDS = env.int("SSE_MAX_SECONDS", default=600)
SSE_KEEPALIVE_SECONDS = env.float("SSE_KEEPALIVE_SECONDS", default=15.0)
WAIT_POLL_SECONDS = env.float("WAIT_POLL_SECONDS", default=0.1)
# Long-polls and event streams one API key may hold open at once in one web process; one more is answered
# 429. (Requests without a key — local mode, this machine only — are not counted.)
WAITS_PER_KEY = env.int("WAITS_PER_KEY", default=50)
# POST /v1/images/generations waits this long for the image before answering 202 with the task id.
OPENAI_WAIT_SECONDS = env.int("OPENAI_WAIT_SECONDS", default=60)
# POST /v1/images/edits: the model OpenAI's own model names map to, and the largest uploaded image
# (and request: a few images) accepted.
OPENAI_EDIT_MODEL = env.str("OPENAI_EDIT_MODEL", default="jimeng_t2i_v40")
IMAGE_UPLOAD_MAX_BYTES = env.int("IMAGE_UPLOAD_MAX_BYTES", default=15 * 1024 * 1024)
# The most pixels an uploaded or downloaded image may declare (Jimeng takes at most 4096 × 4096 inputs).
IMAGE_MAX_PIXELS = env.int("IMAGE_MAX_PIXELS", default=6000 * 6000)
UPLOAD_MAX_REQUEST_BYTES = env.int("UPLOAD_MAX_REQUEST_BYTES", default=64 * 1024 * 1024)

# --- imagetasks: webhooks ---------------------------------------------------------------------------
WEBHOOK_SECRET = env.str("WEBHOOK_SECRET", default="")  # HMAC key of X-Jimeng-Signature; needed for webhook_url
# The whole of one delivery attempt (connect, send, answer), however slowly the receiver trickles bytes.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Deliveries in flight at once to one receiver host (0: no bound); one over it waits this long, roughly.
WEBHOOK_MAX_IN_FLIGHT_PER_HOST = env.int("WEBHOOK_MAX_IN_FLIGHT_PER_HOST", default=4)
WEBHOOK_HOST_BUSY_RETRY_SECONDS = env.float("WEBHOOK_HOST_BUSY_RETRY_SECONDS", default=2.0)
WEBHOOK_BACKOFF_SECONDS = env.float("WEBHOOK_BACKOFF_SECONDS", default=5.0)
WEBHOOK_BACKOFF_MAX_SECONDS = env.float("WEBHOOK_BACKOFF_MAX_SECONDS", default=600.0)
WEBHOOK_RETRY_WINDOW_SECONDS = env.int("WEBHOOK_RETRY_WINDOW_SECONDS", default=24 * 3600)

# --- providers: downloading what an upstream made ----------------------------------------------------
IMAGE_DOWNLOAD_TIMEOUT_SECONDS = env.float("IMAGE_DOWNLOAD_TIMEOUT_SECONDS", default=30.0)
IMAGE_DOWNLOAD_MAX_BYTES = env.int("IMAGE_DOWNLOAD_MAX_BYTES", default=30 * 1024 * 1024)
# A generated video (MP4) downloaded from the upstream into storage: its URL lives about an hour.
VIDEO_DOWNLOAD_TIMEOUT_SECONDS = env.float("VIDEO_DOWNLOAD_TIMEOUT_SECONDS", default=120.0)
VIDEO_DOWNLOAD_MAX_BYTES = env.int("VIDEO_DOWNLOAD_MAX_BYTES", default=200 * 1024 * 1024)
# Storing a finished generation's outputs (on the I/O queue): a download that failed in passing is tried
# this many times in all, with backoff; an output that is not what it claims fails the task at once.
OUTPUT_STORE_TRIES = env.int("OUTPUT_STORE_TRIES", default=3)
