"""Concurrency caps per provider, per model and per upstream account, held across every worker process
and machine.

A task holds a slot from just before its claim until it leaves `processing`; taking one also chooses
the account it runs on: the least loaded (by weight) of those offered that has room. With Redis as the
broker the slots live in Redis (sorted sets with an expiry, so a vanished holder frees its slot);
in embedded mode they are counter rows in the database, changed by conditional single-row updates."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import redis
from django.conf import settings
from django.db import IntegrityError
from django.db.models import F

from jimeng_server.shared_redis import shared_redis
from providers import registry
from providers.base import Account

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

# The same for a pool of accounts: a place for ARGV[1] for ARGV[2] seconds in the provider's and the
# model's sorted sets (KEYS[1], KEYS[2], capped by ARGV[3], ARGV[4]) and in one account's (KEYS[3..],
# each capped and weighted by ARGV[5 + 2k], ARGV[6 + 2k]): the least loaded account with room. A
# member already holding a slot is renewed on its account. Returns the account's position (1-based),
# or 0 when there is no room.
ACCOUNT_SLOT_SCRIPT = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
for i = 1, #KEYS do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', t) end
local expiry = t + tonumber(ARGV[2])
local chosen = 0
for i = 3, #KEYS do
  if redis.call('ZSCORE', KEYS[i], ARGV[1]) then chosen = i end
end
if chosen == 0 then
  if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
    for i = 1, 2 do
      local cap = tonumber(ARGV[2 + i])
      if cap > 0 and redis.call('ZCARD', KEYS[i]) >= cap then return 0 end
    end
  end
  local best_load = nil
  for i = 3, #KEYS do
    local cap = tonumber(ARGV[5 + 2 * (i - 3)])
    local held = redis.call('ZCARD', KEYS[i])
    local load = held / tonumber(ARGV[6 + 2 * (i - 3)])
    if (cap == 0 or held < cap) and (best_load == nil or load < best_load) then chosen, best_load = i, load end
  end
  if chosen == 0 then return 0 end
end
redis.call('ZADD', KEYS[1], expiry, ARGV[1])
redis.call('ZADD', KEYS[2], expiry, ARGV[1])
redis.call('ZADD', KEYS[chosen], expiry, ARGV[1])
return chosen - 2
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
    return registry.provider_cap(task.provider), settings.MODEL_CONCURRENCY.get(task.model, 0)


def account_key(provider: str, name: str) -> str:
    return f"jimeng:capacity:account:{provider}:{name}"


def accounts_counted(accounts: Sequence[Account]) -> bool:
    """Whether slots are counted per account: several to choose from, or one with a cap of its own."""
    return len(accounts) > 1 or bool(accounts[0].concurrency)


class RedisCapacity:
    def __init__(self, client: redis.Redis):
        self.client = client
        self.script = self.client.register_script(SLOT_SCRIPT)
        self.account_script = self.client.register_script(ACCOUNT_SLOT_SCRIPT)
        self.hold_script = self.client.register_script(_HOLD)
        self.in_use_script = self.client.register_script(_IN_USE)

    @staticmethod
    def _keys(task: ImageTask) -> list[str]:
        keys = [f"jimeng:capacity:provider:{task.provider}", f"jimeng:capacity:model:{task.model}"]
        return [*keys, account_key(task.provider, task.account)] if task.account else keys

    def acquire(self, task: ImageTask, accounts: Sequence[Account] | None = None) -> str | None:
        """The account a slot was taken on (of `accounts`: by default the provider's), or None when
        the caps (or every account) are full."""
        configured = registry.provider_get(task.provider).accounts()
        accounts = accounts or configured
        if not accounts_counted(configured) and not any(caps_for(task)):
            return accounts[0].name
        provider_cap, model_cap = caps_for(task)
        keys = [f"jimeng:capacity:provider:{task.provider}", f"jimeng:capacity:model:{task.model}"]
        args = [task.pk, settings.TASK_LEASE_SECONDS, provider_cap, model_cap]
        if not accounts_counted(configured):
            return accounts[0].name if self.script(keys=keys, args=args) else None
        keys += [account_key(task.provider, account.name) for account in accounts]
        for account in accounts:
            args += [account.concurrency, account.weight]
        chosen = int(self.account_script(keys=keys, args=args))
        return accounts[chosen - 1].name if chosen else None

    def refresh(self, task: ImageTask) -> None:
        """Push a held slot's expiry forward (taking it again if it lapsed and there is room)."""
        configured = registry.provider_get(task.provider).accounts()
        if not accounts_counted(configured) and not any(caps_for(task)):
            return
        provider_cap, model_cap = caps_for(task)
        keys = [f"jimeng:capacity:provider:{task.provider}", f"jimeng:capacity:model:{task.model}"]
        args = [task.pk, settings.TASK_LEASE_SECONDS, provider_cap, model_cap]
        if not accounts_counted(configured):
            self.script(keys=keys, args=args)
            return
        keys.append(account_key(task.provider, task.account or configured[0].name))
        self.account_script(keys=keys, args=[*args, 0, 1])

    def hold(self, task: ImageTask, seconds: float) -> None:
        """Keep a held slot taken for `seconds` more, after which it frees itself."""
        self.hold_script(keys=self._keys(task), args=[task.pk, seconds])

    def release(self, task: ImageTask) -> bool:
        """Give the task's slot back; True when it held one (a second release changes nothing)."""
        pipe = self.client.pipeline()
        for key in self._keys(task):
            pipe.zrem(key, task.pk)
        return any(pipe.execute())

    def in_use(self, provider: str) -> int:
        return int(self.in_use_script(keys=[f"jimeng:capacity:provider:{provider}"]))

    def account_in_use(self, provider: str, name: str) -> int:
        return int(self.in_use_script(keys=[account_key(provider, name)]))


class DatabaseCapacity:
    """Embedded mode: a counter row per provider, per model and per account, changed only by
    conditional single-row updates (`in_use < cap`), so it is exact on SQLite and on MongoDB alike
    without transactions. `ImageTask.holds_slot` records which tasks are counted, `account` where."""

    @staticmethod
    def _keys(task: ImageTask) -> list[tuple[str, int]]:
        provider_cap, model_cap = caps_for(task)
        return [(f"provider:{task.provider}", provider_cap), (f"model:{task.model}", model_cap)]

    @staticmethod
    def _decrement(keys) -> None:
        for key in keys:
            CapacityCounter.objects.filter(key=key, in_use__gt=0).update(in_use=F("in_use") - 1)

    @staticmethod
    def _take(key: str, cap: int) -> bool:
        counter = CapacityCounter.objects.filter(key=key)
        if not counter.exists():
            try:
                CapacityCounter.objects.create(key=key)
            except IntegrityError:  # created concurrently
                pass
        room = counter.filter(in_use__lt=cap) if cap else counter
        return bool(room.update(in_use=F("in_use") + 1))

    def acquire(self, task: ImageTask, accounts: Sequence[Account] | None = None) -> str | None:
        configured = registry.provider_get(task.provider).accounts()
        accounts = accounts or configured
        if not accounts_counted(configured) and not any(caps_for(task)):
            return accounts[0].name
        held = ImageTask.objects.filter(pk=task.pk, holds_slot=True).values_list("account", flat=True).first()
        if held is not None:
            return held or accounts[0].name
        taken = []
        for key, cap in self._keys(task):
            if not self._take(key, cap):
                self._decrement(taken)
                return None
            taken.append(key)
        if not accounts_counted(configured):
            if not ImageTask.objects.filter(pk=task.pk, holds_slot=False).update(
                holds_slot=True, account=accounts[0].name
            ):
                self._decrement(taken)  # another process counted this task meanwhile
            return accounts[0].name
        loads = dict(
            CapacityCounter.objects.filter(
                key__in=[f"account:{task.provider}:{account.name}" for account in accounts]
            ).values_list("key", "in_use")
        )
        by_load = sorted(accounts, key=lambda a: loads.get(f"account:{task.provider}:{a.name}", 0) / a.weight)
        for account in by_load:
            key = f"account:{task.provider}:{account.name}"
            if self._take(key, account.concurrency):
                taken.append(key)
                break
        else:
            self._decrement(taken)
            return None
        if not ImageTask.objects.filter(pk=task.pk, holds_slot=False).update(holds_slot=True, account=account.name):
            self._decrement(taken)  # another process counted this task meanwhile
            return ImageTask.objects.filter(pk=task.pk).values_list("account", flat=True).first()
        return account.name

    def refresh(self, task: ImageTask) -> None:
        pass

    def hold(self, task: ImageTask, seconds: float) -> None:
        """The slot stays counted (`holds_slot`): the task's next attempt reuses it, and the
        reconciler gives back one whose task no longer runs."""

    def release(self, task: ImageTask) -> bool:
        if not ImageTask.objects.filter(pk=task.pk, holds_slot=True).update(holds_slot=False):
            return False
        keys = [key for key, _ in self._keys(task)]
        if accounts_counted(registry.provider_get(task.provider).accounts()):
            account = ImageTask.objects.filter(pk=task.pk).values_list("account", flat=True).first()
            keys += [f"account:{task.provider}:{account}"] if account else []
        self._decrement(keys)
        return True

    def in_use(self, provider: str) -> int:
        return CapacityCounter.objects.filter(key=f"provider:{provider}").values_list("in_use", flat=True).first() or 0

    def account_in_use(self, provider: str, name: str) -> int:
        key = f"account:{provider}:{name}"
        return CapacityCounter.objects.filter(key=key).values_list("in_use", flat=True).first() or 0


@functools.cache
def _backend(client: redis.Redis | None):
    return RedisCapacity(client) if client is not None else DatabaseCapacity()


def capacity():
    return _backend(shared_redis())
