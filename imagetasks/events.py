"""A task's status changes, announced to whoever waits on it: the long-poll (`Prefer: wait=N`), the
SSE stream and the OpenAI-compatible endpoint.

With Redis, every change is published after its commit on a channel per task, and a waiter wakes
the moment it arrives (and still re-reads the row every few seconds, in case a message was lost).
In embedded mode a waiter re-reads the row every `WAIT_POLL_SECONDS`. Either way the waiter gives its
database connection back before it waits, and no worker is involved."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

import redis
from django.conf import settings
from django.db import connections, transaction

from jimeng_server.shared_redis import shared_redis

log = logging.getLogger(__name__)

# A waiter with Redis re-reads the row at least this often even without a message.
_RECHECK_SECONDS = 5.0


def _channel(task_id: str) -> str:
    return f"jimeng:task-events:{task_id}"


def task_changed_on_commit(task_id: str) -> None:
    """Announce that a task changed, once the change is committed (readers must see it)."""
    client = shared_redis()
    if client is None:
        return

    def publish():
        try:
            client.publish(_channel(task_id), "changed")
        except redis.RedisError:
            log.info("Could not announce a change of task %s; waiters will see it on their next look", task_id)

    transaction.on_commit(publish)


class _Watch:
    def __init__(self, pubsub):
        self.pubsub = pubsub

    def wait(self, seconds: float) -> None:
        """Return when a change may have happened, or after `seconds`."""
        _release_database()
        if self.pubsub is None:
            time.sleep(min(seconds, settings.WAIT_POLL_SECONDS))
            return
        try:
            self.pubsub.get_message(ignore_subscribe_messages=True, timeout=min(seconds, _RECHECK_SECONDS))
        except redis.RedisError:
            time.sleep(min(seconds, settings.WAIT_POLL_SECONDS))


@contextmanager
def task_watch(task_id: str):
    """Subscribe to a task's changes. Read the row after entering: a change between the read and the
    wait is then never missed."""
    client = shared_redis()
    pubsub = None
    if client is not None:
        try:
            pubsub = client.pubsub()
            pubsub.subscribe(_channel(task_id))
            pubsub.get_message(timeout=1)  # the subscribe confirmation: from here on nothing is missed
        except redis.RedisError:
            pubsub = None  # Redis away: look at the database instead
    try:
        yield _Watch(pubsub)
    finally:
        if pubsub is not None:
            try:
                pubsub.close()
            except redis.RedisError:
                pass


def _release_database() -> None:
    """Hand the database connection back while waiting (never inside a transaction)."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()
