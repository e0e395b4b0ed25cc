"""Prometheus metrics at `/metrics`.

Two kinds:
- observed where they happen, in whichever process (web or worker): upstream generation time per
  provider and model, failures by code, retries, webhook deliveries — plus django-prometheus's HTTP
  and database metrics. Every process of one machine writes them under PROMETHEUS_MULTIPROC_DIR
  (prometheus_client's multiprocess mode), and `/metrics` adds them up;
- read at scrape time, the same from every web process: what the apps register
  (jimeng_server/parts.py; image tasks: by status, waiting for a slot, per account, the queue's depth)."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from .parts import metrics_collectors
from .proxies import is_local

# (The multiprocess value store is chosen at start-up, in jimeng_server/apps.py.)

GENERATION_SECONDS = Histogram(
    "jimeng_upstream_generation_seconds",
    "Time an upstream took to generate, from submit to result (async) or the whole call (sync).",
    ["provider", "model", "kind"],
    buckets=(1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600),
)
FAILURES = Counter("jimeng_task_failures", "Tasks that ended failed, by error code.", ["provider", "code", "kind"])
RETRIES = Counter(
    "jimeng_task_retries", "Retryable upstream errors that sent a task back to pending.", ["provider", "code", "kind"]
)
WAITING_CLIENTS = Gauge(
    "jimeng_waiting_clients",
    "Clients waiting on a task right now (long-poll, SSE, OpenAI waits) in the web processes.",
    multiprocess_mode="livesum",
)
ACCOUNT_SUBMITS = Counter(
    "jimeng_account_submits", "Generations an upstream account accepted.", ["provider", "account"]
)
ACCOUNT_FAILURES = Counter(
    "jimeng_account_failures", "Upstream errors per account, by code.", ["provider", "account", "code"]
)
ACCOUNT_EVENTS = Counter(
    "jimeng_account_events", "Accounts taken out of rotation or put back.", ["provider", "account", "event"]
)
WEBHOOK_DELIVERIES = Counter("jimeng_webhook_deliveries", "Webhook delivery attempts, by outcome.", ["outcome"])


def metrics_view(request):
    """With METRICS_TOKEN, for whoever sends it as a Bearer token. Without one, in production, only for
    callers on this machine itself (not relayed by a proxy); elsewhere for anyone."""
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and not hmac.compare_digest(given.encode(), token.encode()):
        return JsonResponse({"success": False, "message": "A valid metrics token is required."}, status=401)
    if not token and settings.PRODUCTION and not is_local(request):
        message = "Metrics answer only on this machine; set METRICS_TOKEN to scrape them from elsewhere."
        return JsonResponse({"success": False, "message": message}, status=403)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    for collector in metrics_collectors():  # what the apps read at scrape time (jimeng_server/parts.py)
        registry.register(collector)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
