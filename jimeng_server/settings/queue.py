"""The queue's settings: the broker (Redis, or files on this machine), Celery's queues, the beat
schedule, and the cache every web process shares when Redis is there."""

from urllib.parse import quote

from .core import DATA_DIR, env

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
    CELERY_BROKER_TRANSPORT = "jimeng_server.broker:Transport"  # kombu's, each message written whole first
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

# Counters of the rate limit: in Redis when Redis is the broker (shared by every web process).
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CELERY_BROKER_URL}}
# How long a worker's timer sleeps at most: also how long its warm shutdown waits on it (Celery's default
# of 1 s made an idle worker take ~6 s to stop; Ctrl-C on `make run` stops everything within 10).
CELERY_WORKER_TIMER_PRECISION = 0.2
