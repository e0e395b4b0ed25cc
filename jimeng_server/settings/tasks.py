"""The tasks' settings (imagetasks): attempts and leases, caps and polling, waiting on a task, the
OpenAI-compatible endpoints, webhooks, and storing what an upstream made."""

import re

from .core import env

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

# --- imagetasks: the pipeline (deadline, retries, caps, polling) ------------------------------------
# A task still generating this long after it was submitted fails as timed out.
TASK_DEADLINE_SECONDS = env.int("TASK_DEADLINE_SECONDS", default=1800)
TASK_RETRY_BACKOFF_SECONDS = env.float("TASK_RETRY_BACKOFF_SECONDS", default=2.0)
TASK_RETRY_BACKOFF_MAX_SECONDS = env.float("TASK_RETRY_BACKOFF_MAX_SECONDS", default=60.0)
# Queue for synchronous upstreams (Ark): served by a thread-pool worker, so that many wait at once.
CELERY_IO_QUEUE = env.str("CELERY_IO_QUEUE", default="imagetasks-io")
# Concurrency caps: generations running at once upstream, across all workers. "jimeng=8,ark=8,seedance=2"
# (Seedance videos: a video account starts at 1-2 at once); a provider or model left out (or 0) is unlimited.


def _caps(name: str, default: dict[str, int] | None) -> dict[str, int] | None:
    """`jimeng=8,ark=8`: pairs of name=number, separated by commas, semicolons or spaces (`name:number`
    too), into {"jimeng": 8, "ark": 8}; anything else refuses to start, saying so."""
    raw = env.str(name, default=None)
    if raw is None:
        return None if default is None else dict(default)
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


# Unset (None): each provider's own default (jimeng=8,ark=8,seedance=2; a pool: what its accounts allow).
UPSTREAM_CONCURRENCY = _caps("UPSTREAM_CONCURRENCY", None)
MODEL_CONCURRENCY = _caps("MODEL_CONCURRENCY", {})
# At most this many of one provider's generations at once for one user (0: no such limit): the rest of
# their tasks wait, and others' start meanwhile (imagetasks/services/fair.py).
USER_MAX_RUNNING = env.int("USER_MAX_RUNNING", default=0)
# Whom the fair order shares the upstream between: "user" (each user_id), or "key" (each API key, e.g.
# one per reseller's app, with its own tier and weight; calls without a key share as one).
FAIR_SHARE_BY = env.str("FAIR_SHARE_BY", default="user")
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
# The generation is paid for and its URL lives for hours: six tries span 30-60 s of backoff (three gave
# up on about one download in 40 when 30 % of answers failed: make chaos R3, 197/200).
OUTPUT_STORE_TRIES = env.int("OUTPUT_STORE_TRIES", default=6)
