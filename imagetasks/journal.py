"""Accepted submissions, journaled in the shared Redis the moment the upstream answers — before the
database write that records them. A worker killed between the two (a crash, a host lost) leaves its
task processing with no upstream id; recovery finds the id here and polls that generation instead
of submitting, and paying for, a second one. The window left is one Redis SET after the upstream's
answer (no upstream offers an idempotency key to close it entirely). Embedded mode has no journal:
its database is a local file, written at once."""

from __future__ import annotations

import json
import logging
from datetime import datetime

import redis
from django.conf import settings

from jimeng_server.shared_redis import shared_redis

log = logging.getLogger(__name__)


def _key(task_id: str, attempt: int) -> str:
    return f"jimeng:submitted:{task_id}:{attempt}"


def submission_journal(*, task_id: str, attempt: int, upstream_task_id: str, at: datetime) -> None:
    client = shared_redis()
    if client is None:
        return
    value = json.dumps({"upstream_task_id": upstream_task_id, "at": at.isoformat()})
    try:  # kept as long as the task may still be recovered (its deadline), then it expires
        client.set(_key(task_id, attempt), value, ex=int(settings.TASK_DEADLINE_SECONDS) + 3600)
    except redis.RedisError as exc:  # the database write follows at once; only its crash window widens
        log.warning("submission of task %s not journaled (%s)", task_id, exc)


def submission_find(*, task_id: str, attempt: int) -> tuple[str, datetime] | None:
    """The upstream id and time of this attempt's accepted submission, if one was journaled."""
    client = shared_redis()
    if client is None:
        return None
    try:
        value = client.get(_key(task_id, attempt))
    except redis.RedisError:
        return None
    if value is None:
        return None
    entry = json.loads(value)
    return entry["upstream_task_id"], datetime.fromisoformat(entry["at"])
