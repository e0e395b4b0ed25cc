"""Concurrency caps per provider and per model, held across every worker process and machine.

A task holds a slot from just before its claim until it leaves `processing`. With Redis as the
broker the slots live in Redis (sorted sets with an expiry, so a vanished holder frees its slot);
in embedded mode they are a flag on the task row, counted inside one SQLite write transaction."""

from __future__ import annotations

import functools

import redis
from django.conf import settings
from django.db import transaction

from .models import ImageTask, Status

_ACQUIRE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
for i = 1, #KEYS do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', t) end
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  for i = 1, #KEYS do
    local cap = tonumber(ARGV[2 + i])
    if cap > 0 and redis.call('ZCARD', KEYS[i]) >= cap then return 0 end
  end
end
for i = 1, #KEYS do redis.call('ZADD', KEYS[i], t + tonumber(ARGV[2]), ARGV[1]) end
return 1
"""


def caps_for(task: ImageTask) -> tuple[int, int]:
    """(provider cap, model cap); 0 means unlimited."""
    return settings.UPSTREAM_CONCURRENCY.get(task.provider, 0), settings.MODEL_CONCURRENCY.get(task.model, 0)


class RedisCapacity:
    def __init__(self, url: str):
        self.client = redis.Redis.from_url(url)
        self.script = self.client.register_script(_ACQUIRE)

    @staticmethod
    def _keys(task: ImageTask) -> list[str]:
        return [f"jimeng:capacity:provider:{task.provider}", f"jimeng:capacity:model:{task.model}"]

    def acquire(self, task: ImageTask) -> bool:
        provider_cap, model_cap = caps_for(task)
        if not provider_cap and not model_cap:
            return True
        ttl = settings.TASK_LEASE_SECONDS
        return bool(self.script(keys=self._keys(task), args=[task.pk, ttl, provider_cap, model_cap]))

    refresh = acquire  # re-adding a held slot pushes its expiry forward

    def release(self, task: ImageTask) -> None:
        pipe = self.client.pipeline()
        for key in self._keys(task):
            pipe.zrem(key, task.pk)
        pipe.execute()

    def in_use(self, provider: str) -> int:
        return self.client.zcard(f"jimeng:capacity:provider:{provider}")


class DatabaseCapacity:
    """For the embedded mode (SQLite, one machine): the slot is `ImageTask.holds_slot`."""

    def acquire(self, task: ImageTask) -> bool:
        provider_cap, model_cap = caps_for(task)
        if not provider_cap and not model_cap:
            return True
        with transaction.atomic():  # BEGIN IMMEDIATE on SQLite: one acquirer at a time
            holders = ImageTask.objects.filter(holds_slot=True)
            if holders.filter(pk=task.pk).exists():
                return True
            if provider_cap and holders.filter(provider=task.provider).count() >= provider_cap:
                return False
            if model_cap and holders.filter(model=task.model).count() >= model_cap:
                return False
            return bool(
                ImageTask.objects.filter(pk=task.pk)
                .exclude(status__in=[Status.COMPLETED, Status.FAILED, Status.CANCELED])
                .update(holds_slot=True)
            )

    def refresh(self, task: ImageTask) -> bool:
        return True

    def release(self, task: ImageTask) -> None:
        ImageTask.objects.filter(pk=task.pk, holds_slot=True).update(holds_slot=False)

    def in_use(self, provider: str) -> int:
        return ImageTask.objects.filter(holds_slot=True, provider=provider).count()


@functools.cache
def _backend(url: str):
    return RedisCapacity(url) if url.startswith(("redis://", "rediss://")) else DatabaseCapacity()


def capacity():
    return _backend(settings.CAPACITY_REDIS_URL or settings.CELERY_BROKER_URL)
