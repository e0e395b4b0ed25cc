"""The project's own settings: the environment, Django's core, the database, stored files, the REST
API, who may call and running safely off loopback, logging and metrics, outbound requests."""

import os
from pathlib import Path
from urllib.parse import urlsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

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
        else [
            "django.contrib.admin",
            "jimeng_server.mongo_apps.OperatorsAuthConfig",
            "django.contrib.contenttypes",
            "axes",
        ]
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
    "jimeng_server.middleware.AdminSessionMiddleware",  # these three: for the admin's requests only
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "jimeng_server.middleware.AdminAuthenticationMiddleware",
    "jimeng_server.middleware.AdminMessageMiddleware",
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
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},  # S3_BUCKET: the object store (below)
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# The apps' own static files (the playground's web font, the admin's CSS) are served from where they
# live as well as from STATIC_ROOT: a server started without `collectstatic` still draws its pages.
# WhiteNoise lists them once at start-up; a path it did not list is a 404.
WHITENOISE_USE_FINDERS = True
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
    "DEFAULT_AUTHENTICATION_CLASSES": ["users.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["jimeng_server.auth.HasApiAccess"],
    "DEFAULT_THROTTLE_CLASSES": ["users.auth.ApiKeyRateThrottle"],
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
        "QualityEnum": ["standard", "hd"],
        "OpenAIQualityEnum": ["auto", "standard", "low", "medium", "hd", "high"],
    },
}

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
# Requests one connection may carry before the server closes it after an answer (0: no bound): a client
# reconnects, and its new connection goes to the web process that accepts it first — the less busy one.
HTTP_KEEPALIVE_REQUESTS = env.int("HTTP_KEEPALIVE_REQUESTS", default=20)
DATA_UPLOAD_MAX_NUMBER_FILES = 16  # /v1/images/edits takes at most 14 images; more is a 400
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="600/min")  # per API key; empty: no limit
USER_DAILY_TASK_QUOTA = env.int(
    "USER_DAILY_TASK_QUOTA", default=10000
)  # tasks a user may create per UTC day; 0: no limit
USER_MAX_ACTIVE_TASKS = env.int("USER_MAX_ACTIVE_TASKS", default=1000)  # pending + processing per user; 0: no limit

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
# prometheus_client chooses its multiprocess value store from this variable when it is first imported
# (by django-prometheus, as the apps load: after this module).
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(PROMETHEUS_MULTIPROC_DIR)
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- jimeng_server: outbound requests to addresses others chose (webhooks, upstream image URLs) ----
# Networks exempt from the loopback/private/link-local/metadata block, e.g. "10.20.0.0/16" for an
# internal webhook receiver, or "127.0.0.0/8" for a fake upstream on this machine.
OUTBOUND_ALLOWED_NETWORKS = env.list("OUTBOUND_ALLOWED_NETWORKS", default=[])
