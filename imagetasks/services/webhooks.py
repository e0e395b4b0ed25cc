"""Webhooks: when a task ends (and, if asked, when it starts), POST its JSON to the task's
webhook_url, signed, retried with backoff for a configurable window, every attempt recorded.

Signature: header `X-Jimeng-Signature: sha256=<hex>` where hex = HMAC-SHA256(WEBHOOK_SECRET,
"<X-Jimeng-Timestamp>.<raw body>"). The README shows how to verify it."""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import threading
import time
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from jimeng_server import metrics
from jimeng_server.api import timestamp
from jimeng_server.backoff import backoff_seconds
from jimeng_server.outbound import OutboundBlocked, OutboundError, fetch
from jimeng_server.shared_redis import shared_redis
from jimeng_server.text import json_text

from ..capacity import SLOT_SCRIPT
from ..models import ImageTask, Status, WebhookDelivery
from ..representation import task_detail
from ..storage import file_url
from .scheduling import webhook_delivery_on_commit

log = logging.getLogger(__name__)
EVENTS = {
    Status.PROCESSING: "task.processing",
    Status.COMPLETED: "task.completed",
    Status.FAILED: "task.failed",
    Status.CANCELED: "task.canceled",
}
# Enough of a receiver's answer to log; the rest is never read (a large 2xx is still delivered).
ANSWER_READ_BYTES = 4096


def sign(secret: str, sent_at: str, body: bytes) -> str:
    return hmac.new(secret.encode(), sent_at.encode() + b"." + body, hashlib.sha256).hexdigest()


def _record(task: ImageTask, event: str = "", **extra) -> WebhookDelivery:
    # Due now: if the message below is lost, the reconciler finds the row by this time and sends it.
    delivery = WebhookDelivery(
        task=task, event=event or EVENTS[task.status], url=task.webhook_url, payload={}, next_attempt_at=timezone.now()
    )
    delivery.payload = {"event": delivery.event, "delivery_id": delivery.id, "task": task_detail(task), **extra}
    delivery.save(force_insert=True)
    webhook_delivery_on_commit(delivery_id=delivery.id)
    return delivery


def webhook_dispatch(*, task_id: str) -> WebhookDelivery | None:
    """Record (and send) the delivery a finished task owes, exactly once: the flag set by the
    update that ended the task is cleared by a conditional update here."""
    if not ImageTask.objects.filter(pk=task_id, webhook_due=True).update(webhook_due=False):
        return None
    task = ImageTask.objects.get(pk=task_id)
    return _record(task) if task.webhook_url and task.status in EVENTS else None


def webhook_status_changed(task: ImageTask) -> None:
    """For tasks that asked for every status change ("all"): the start of processing."""
    if task.webhook_url and task.webhook_events == "all" and task.status in EVENTS:
        _record(task)


def webhook_image(task: ImageTask, entry: dict) -> None:
    """For tasks that asked for every change ("all"): one image of a set kept (`task.image`, with the
    image's index and URL; the task as it stands, with the images so far)."""
    if task.webhook_url and task.webhook_events == "all":
        _record(task, "task.image", image={"index": entry["index"], "url": file_url(entry["name"])})


class _HostSlots:
    """At most WEBHOOK_MAX_IN_FLIGHT_PER_HOST deliveries in flight to one receiver host, so a slow
    receiver occupies a few of the delivery pool's threads, never all of them: in Redis (every
    process and host of the deployment) or, in embedded mode, in this process (the one delivery worker)."""

    def __init__(self):
        self._local: dict[str, int] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(host: str) -> str:
        return f"jimeng:webhooks:in-flight:{host}"

    def acquire(self, host: str, delivery_id: str) -> bool:
        cap = settings.WEBHOOK_MAX_IN_FLIGHT_PER_HOST
        if not cap:
            return True
        client = shared_redis()
        if client is not None:
            ttl = settings.WEBHOOK_TIMEOUT_SECONDS + 5  # a holder that vanished frees its place
            return bool(client.register_script(SLOT_SCRIPT)(keys=[self._key(host)], args=[delivery_id, ttl, cap]))
        with self._lock:
            if self._local.get(host, 0) >= cap:
                return False
            self._local[host] = self._local.get(host, 0) + 1
            return True

    def release(self, host: str, delivery_id: str) -> None:
        if not settings.WEBHOOK_MAX_IN_FLIGHT_PER_HOST:
            return
        client = shared_redis()
        if client is not None:
            client.zrem(self._key(host), delivery_id)
            return
        with self._lock:
            self._local[host] = max(0, self._local.get(host, 0) - 1)


host_slots = _HostSlots()


def webhook_deliver(*, delivery_id: str) -> float | None:
    """One attempt. Returns the delay before the next one, or None when done (delivered or given up).
    A receiver host with its deliveries in flight already is not tried now: the attempt waits."""
    delivery = WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.DeliveryStatus.PENDING).first()
    if delivery is None:
        return None
    host = (urlsplit(delivery.url).hostname or "").lower()
    if not host_slots.acquire(host, delivery.id):
        delay = random.uniform(0.5, 1.0) * settings.WEBHOOK_HOST_BUSY_RETRY_SECONDS
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() + timedelta(seconds=delay))
        return delay
    try:
        return _attempt(delivery)
    finally:
        host_slots.release(host, delivery.id)


def _attempt(delivery: WebhookDelivery) -> float | None:
    # While it is tried the row is not overdue: the reconciler leaves it alone.
    busy_until = timezone.now() + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + 30)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=busy_until)
    body = json_text(delivery.payload).encode()
    sent_at = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "jimeng-server-webhooks/1",
        "X-Jimeng-Event": delivery.event,
        "X-Jimeng-Delivery": delivery.id,
        "X-Jimeng-Timestamp": sent_at,
        "X-Jimeng-Signature": "sha256=" + sign(settings.WEBHOOK_SECRET, sent_at, body),
    }
    started = time.monotonic()
    status_code, error = None, ""
    try:
        # A redirect is followed only to another allowed address (each hop checked), as a POST.
        response = fetch(
            delivery.url,
            method="POST",
            data=body,
            headers=headers,
            max_bytes=ANSWER_READ_BYTES,
            truncate=True,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
        )
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"answered HTTP {status_code}"
    except OutboundBlocked as exc:
        error = f"not sent: {exc}"
    except OutboundError as exc:
        error = f"could not deliver: {exc}"
    now = timezone.now()
    attempt = {
        "at": timestamp(now),
        "status_code": status_code,
        "error": error,
        "duration_ms": int((time.monotonic() - started) * 1000),
    }
    delivery.attempts += 1
    delivery.attempt_log = [*delivery.attempt_log, attempt]
    if not error:
        delivery.status = WebhookDelivery.DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        delay = None
    elif now - delivery.created_at > timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS):
        delivery.status = WebhookDelivery.DeliveryStatus.FAILED
        delivery.next_attempt_at = None
        delay = None
    else:
        delay = backoff_seconds(
            delivery.attempts, base=settings.WEBHOOK_BACKOFF_SECONDS, maximum=settings.WEBHOOK_BACKOFF_MAX_SECONDS
        )
        delivery.next_attempt_at = now + timedelta(seconds=delay)
    delivery.save(update_fields=["attempts", "attempt_log", "status", "delivered_at", "next_attempt_at"])
    metrics.WEBHOOK_DELIVERIES.labels("retrying" if delay is not None else delivery.status).inc()
    return delay


def webhook_redeliver(*, delivery_id: str) -> WebhookDelivery:
    """Operator's "redeliver": send it again now, whatever happened before."""
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    delivery.status = WebhookDelivery.DeliveryStatus.PENDING
    delivery.next_attempt_at = timezone.now()
    delivery.created_at = timezone.now()  # a fresh retry window
    delivery.save(update_fields=["status", "next_attempt_at", "created_at"])
    webhook_delivery_on_commit(delivery_id=delivery.id)
    return delivery


def webhooks_reconcile(stale) -> int:
    """Deliveries whose wake-up was lost, and tasks that ended without their delivery recorded."""
    count = 0
    for task_id in ImageTask.objects.filter(webhook_due=True, updated_at__lt=stale).values_list("id", flat=True):
        if webhook_dispatch(task_id=task_id):
            count += 1
    # Every undelivered row: overdue retries, and rows whose first message never arrived.
    overdue = WebhookDelivery.objects.filter(status=WebhookDelivery.DeliveryStatus.PENDING).filter(
        Q(next_attempt_at__lt=stale) | Q(next_attempt_at__isnull=True, created_at__lt=stale)
    )
    for delivery_id in overdue.values_list("id", flat=True):
        webhook_delivery_on_commit(delivery_id=delivery_id)
        count += 1
    return count
