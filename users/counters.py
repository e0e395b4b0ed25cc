"""Atomic counters behind limits: a reservation either fits under the limit and is counted, or is
refused — in one conditional write, never count-then-insert, so parallel requests cannot all pass.

In the database (any backend: a conditional single-row update) for per-user limits, and in Redis
(one script) for the per-key request rate when Redis is there."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

import redis
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from jimeng_server.shared_redis import shared_redis

from .models import UsageCounter

log = logging.getLogger(__name__)


def counter_take(*, key: str, limit: int, expires_at: datetime | None = None) -> bool:
    """Count one more under `key` if it stays within `limit`; False (and nothing counted) if not."""
    rows = UsageCounter.objects.filter(pk=key, value__lt=limit)
    if rows.update(value=F("value") + 1, updated_at=timezone.now()):
        return True
    try:
        with transaction.atomic():  # a savepoint: a duplicate key must not spoil an outer transaction
            UsageCounter.objects.create(key=key, value=0, expires_at=expires_at)
    except IntegrityError:  # it exists: it is full, or was just created by a parallel request
        pass
    return bool(rows.update(value=F("value") + 1, updated_at=timezone.now()))


def counter_give_back(*, key: str) -> None:
    UsageCounter.objects.filter(pk=key, value__gt=0).update(value=F("value") - 1, updated_at=timezone.now())


def counters_expired_delete() -> int:
    return UsageCounter.objects.filter(expires_at__lt=timezone.now()).delete()[0]


_RATE = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


def rate_take(*, key_id: str, limit: int, window_seconds: int) -> int | None:
    """One request of an API key within a fixed window of `window_seconds`: None if it fits under
    `limit`, else the seconds until the window ends (Retry-After). A Redis that does not answer
    lets the request through: the limit protects the service, it must not take it down."""
    now = time.time()
    window = int(now // window_seconds)
    retry_after = max(1, int((window + 1) * window_seconds - now) + 1)
    client = shared_redis()
    if client is not None:
        try:
            count = client.register_script(_RATE)(keys=[f"jimeng:rate:{key_id}:{window}"], args=[window_seconds + 1])
        except redis.RedisError:
            log.warning("Rate limit not checked: Redis does not answer")
            return None
        return None if int(count) <= limit else retry_after
    expires = timezone.now() + timedelta(seconds=2 * window_seconds)
    if counter_take(key=f"rate|{key_id}|{window}", limit=limit, expires_at=expires):
        return None
    return retry_after
