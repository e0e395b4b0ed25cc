"""Prometheus metrics at `/metrics`.

Two kinds:
- observed where they happen, in whichever process (web or worker): upstream generation time per
  provider and model, failures by code, retries, webhook deliveries — plus django-prometheus's HTTP
  and database metrics. Every process of one machine writes them under PROMETHEUS_MULTIPROC_DIR
  (prometheus_client's multiprocess mode), and `/metrics` adds them up;
- read at scrape time, the same from every web process: tasks by status, tasks waiting for a slot,
  the broker's queue depth."""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from .proxies import is_local

log = logging.getLogger(__name__)

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


class _StateCollector:
    """Tasks by status, tasks waiting for a slot and the queue depth, read when scraped."""

    def collect(self):
        from imagetasks.queues import queue_depth
        from imagetasks.selectors import task_counts_by_status, tasks_waiting_for_slot

        tasks = GaugeMetricFamily(
            "jimeng_tasks", "Tasks in the database, by status and kind.", labels=["status", "kind"]
        )
        for (status, kind), count in task_counts_by_status().items():
            tasks.add_metric([status, kind], count)
        yield tasks
        yield GaugeMetricFamily(
            "jimeng_tasks_waiting_for_slot",
            "Pending tasks waiting for a free concurrency slot.",
            tasks_waiting_for_slot(),
        )
        from imagetasks.selectors import accounts_standing

        in_flight = GaugeMetricFamily(
            "jimeng_account_in_flight", "Generations running on each upstream account.", labels=["provider", "account"]
        )
        rotation = GaugeMetricFamily(
            "jimeng_account_in_rotation",
            "1 when an upstream account takes new work, 0 when out of rotation.",
            labels=["provider", "account"],
        )
        for account in accounts_standing():
            if account["in_flight"] is not None:  # counted per account (a pool, or an account's own cap)
                in_flight.add_metric([account["provider"], account["name"]], account["in_flight"])
            rotation.add_metric([account["provider"], account["name"]], 1 if account["in_rotation"] else 0)
        yield in_flight
        yield rotation
        try:
            depth = queue_depth()
        except Exception:
            log.info("Queue depth unavailable for /metrics", exc_info=True)
        else:
            yield GaugeMetricFamily("jimeng_queue_depth", "Messages waiting in the broker's task queue.", depth)


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
    registry.register(_StateCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
