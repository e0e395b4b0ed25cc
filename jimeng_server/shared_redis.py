"""The Redis that every process of a deployment shares (concurrency caps, counters of limits,
status-change channels, webhook host bounds): CAPACITY_REDIS_URL, else the broker if it is Redis;
None in embedded mode, where the database serves instead."""

from __future__ import annotations

import functools

import redis
from django.conf import settings


@functools.cache
def _client(url: str) -> redis.Redis:
    # Short timeouts: a Redis that is down or unreachable answers an error at once, never a hang.
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)


def shared_redis_url() -> str | None:
    """The shared Redis's URL, or None in embedded mode."""
    url = settings.CAPACITY_REDIS_URL or settings.CELERY_BROKER_URL
    return url if url.startswith(("redis://", "rediss://")) else None


def shared_redis() -> redis.Redis | None:
    url = shared_redis_url()
    return _client(url) if url is not None else None
