"""Concurrency caps per provider and per model, held across every worker process and machine.

A task holds a slot from just before its claim until it leaves `processing`. With Redis as the
broker the slots live in Redis (sorted sets with an expiry, so a vanished holder frees its slot);
in embedded mode they are counter rows in the database, changed by conditional single-row updates."""

from __future__ import annotations

import functools

import redis
from django.conf import settings
from django.db import IntegrityError
from django.db.models import F

from jimeng_server.shared_redis import shared_redis

from .models import CapacityCounter, ImageTask

# Take a place for ARGV[1] in every sorted set of KEYS (each capped by ARGV[2 + i], 0 = no cap) for
# ARGV[2] seconds; a member already present is renewed. Expired members are dropped first.
SLOT_SCRIPT = """
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


_HOLD = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
for i = 1, #KEYS do redis.call('ZADD', KEYS[i], 'XX', t + tonumber(ARGV[2]), ARGV[1]) end
return 1
"""


_IN_USE = """
local now = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(now[1]) + tonumber(now[2]) / 1000000)
return redis.call('ZCARD', KEYS[1])
"""


def caps_for(task: ImageTask) -> tuple[int, int]:
    """(provider cap, model cap); 0 means unlimited."""
    return settings.UPSTREAM_CONCURRENCY.get(task.provider, 0), settings.MODEL_CONCURRENCY.get(task.model, 0)


class RedisCapacity:
    def __init__(self, client: redis.Redis):
        self.client = client
        self.script = self.client.register_script(SLOT_SCRIPT)
        self.hold_script = self.client.register_script(_HOLD)
        self.in_use_script = self.client.register_script(_IN_USE)

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

    def hold(self, task: ImageTask, seconds: float) -> None:
        """Keep a held slot taken for `seconds` more, after which it frees itself."""
        self.hold_script(keys=self._keys(task), args=[task.pk, seconds])

    def release(self, task: ImageTask) -> None:
        pipe = self.client.pipeline()
        for key in self._keys(task):
            pipe.zrem(key, task.pk)
        pipe.execute()

    def in_use(self, provider: str) -> int:
        return int(self.in_use_script(keys=[f"jimeng:capacity:provider:{provider}"]))


class DatabaseCapacity:
    """Embedded mode: a counter row per provider and per model, changed only by conditional
    single-row updates (`in_use < cap`), so it is exact on SQLite and on MongoDB alike without
    transactions. `ImageTask.holds_slot` records which tasks are counted."""

    @staticmethod
    def _keys(task: ImageTask) -> list[tuple[str, int]]:
        provider_cap, model_cap = caps_for(task)
        return [(f"provider:{task.provider}", provider_cap), (f"model:{task.model}", model_cap)]

    @staticmethod
    def _decrement(keys) -> None:
        for key in keys:
            CapacityCounter.objects.filter(key=key, in_use__gt=0).update(in_use=F("in_use") - 1)

    def acquire(self, task: ImageTask) -> bool:
        if not any(cap for _, cap in self._keys(task)):
            return True
        if ImageTask.objects.filter(pk=task.pk, holds_slot=True).exists():
            return True
        taken = []
        for key, cap in self._keys(task):
            counter = CapacityCounter.objects.filter(key=key)
            if not counter.exists():
                try:
                    CapacityCounter.objects.create(key=key)
                except IntegrityError:  # created concurrently
                    pass
            room = counter.filter(in_use__lt=cap) if cap else counter
            if not room.update(in_use=F("in_use") + 1):
                self._decrement(taken)
                return False
            taken.append(key)
        if not ImageTask.objects.filter(pk=task.pk, holds_slot=False).update(holds_slot=True):
            self._decrement(taken)  # another process counted this task meanwhile
        return True

    def refresh(self, task: ImageTask) -> bool:
        return True

    def hold(self, task: ImageTask, seconds: float) -> None:
        """The slot stays counted (`holds_slot`): the task's next attempt reuses it, and the
        reconciler gives back one whose task no longer runs."""

    def release(self, task: ImageTask) -> None:
        if ImageTask.objects.filter(pk=task.pk, holds_slot=True).update(holds_slot=False):
            self._decrement([key for key, _ in self._keys(task)])

    def in_use(self, provider: str) -> int:
        return CapacityCounter.objects.filter(key=f"provider:{provider}").values_list("in_use", flat=True).first() or 0


@functools.cache
def _backend(client: redis.Redis | None):
    return RedisCapacity(client) if client is not None else DatabaseCapacity()


def capacity():
    return _backend(shared_redis())
