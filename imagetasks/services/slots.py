"""Concurrency slots as tasks see them: give one back (waking the oldest task waiting for it), park a
task that found its cap full, wake parked tasks."""

from __future__ import annotations

import redis
from django.db import IntegrityError
from django.db.models import F
from django.utils import timezone

from jimeng_server.shared_redis import shared_redis

from ..capacity import capacity
from ..models import CapacityCounter, ImageTask, Status
from .scheduling import task_enqueue_on_commit


def slot_release(task: ImageTask) -> None:
    """Give the concurrency slot back, and wake the oldest task waiting for one."""
    capacity().release(task)
    tasks_wake(provider=task.provider, model=task.model, count=1) or tasks_wake(provider=task.provider, count=1)


def task_park(task: ImageTask) -> None:
    """No free slot: the task waits, pending, until a slot frees (see `tasks_wake`), with a ticket
    that numbers its place in the provider's line (selectors.queue_place)."""
    ImageTask.objects.filter(pk=task.pk, status=Status.PENDING).update(
        waiting_since=timezone.now(),
        queue_ticket=_ticket_draw(task.provider),
        next_attempt_at=None,
        updated_at=timezone.now(),
    )


def _ticket_draw(provider: str) -> int | None:
    """The next number of the provider's line: INCR in Redis, else a counter row."""
    client = shared_redis()
    if client is not None:
        try:
            return int(client.incr(f"jimeng:queue-ticket:{provider}"))
        except redis.RedisError:
            return None
    key = f"ticket:{provider}"
    if not CapacityCounter.objects.filter(key=key).update(in_use=F("in_use") + 1):
        try:
            CapacityCounter.objects.create(key=key, in_use=1)
        except IntegrityError:
            CapacityCounter.objects.filter(key=key).update(in_use=F("in_use") + 1)
    return CapacityCounter.objects.filter(key=key).values_list("in_use", flat=True).first()


def tasks_wake(*, provider: str, count: int, model: str | None = None) -> int:
    """Wake up to `count` of the oldest tasks waiting for a slot of this provider (and model, if
    given). Each is unparked by a conditional update first, so two processes freeing slots at once
    wake two different tasks."""
    woken = 0
    waiting = ImageTask.objects.filter(provider=provider, waiting_since__isnull=False, status=Status.PENDING)
    if model is not None:
        waiting = waiting.filter(model=model)
    while woken < count:
        candidates = list(waiting.order_by("waiting_since").values_list("id", flat=True)[: count - woken])
        if not candidates:
            break
        for task_id in candidates:
            if waiting.filter(pk=task_id).update(waiting_since=None, updated_at=timezone.now()):
                task_enqueue_on_commit(task_id=task_id, provider=provider)
                woken += 1
    return woken


def slot_free(task: ImageTask, hold_seconds: float = 0) -> None:
    """Done with the slot: given back, or — after a submit that may have been accepted upstream —
    left taken for `hold_seconds`, so the cap also counts a generation we lost sight of."""
    if hold_seconds:
        capacity().hold(task, hold_seconds)
    else:
        slot_release(task)
