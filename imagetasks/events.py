"""A task's status changes, announced to whoever waits on it: the long-poll (`Prefer: wait=N`), the
SSE stream and the OpenAI-compatible endpoint.

With Redis, every change is published after its commit on a channel per task, and a waiter wakes
the moment it arrives (and still re-reads the row every few seconds, in case a message was lost).
In embedded mode a waiter re-reads the row every `WAIT_POLL_SECONDS`. Either way the waiter gives its
database connection back before it waits, and no worker is involved.

Under the ASGI server, waiting is a coroutine (`task_watch_async`): one subscription and one timer per
web process serve all of its waiters."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
import weakref
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta

import redis
import redis.asyncio
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from jimeng_server.metrics import WAITING_CLIENTS
from jimeng_server.shared_redis import shared_redis, shared_redis_url

from . import fastpath

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


# --- Waiting in an event loop (the ASGI server) ------------------------------------------------------
# Each web process keeps one pattern subscription to every task's channel and wakes the waiters of a
# task when its message comes. A waiter that nothing wakes costs a future and an entry in its hub's
# alarm heap — no task, timer, thread, connection or database connection of its own, and no read of
# its own: one timer per process rings the earliest alarm, and in case a message was lost one sweep per
# process reads what changed among all the waited tasks every 30 s (a few queries, not one per waiter).
# While the subscription is down, waiters re-read their row every second instead, and each is woken
# when it is back (a message may have been missed meanwhile).

_PATTERN = _channel("*")
_SWEEP_SECONDS = 30.0  # what changed among the waited tasks, read even without a message: a lost one costs at most this
_SWEEP_BATCH = 500  # task ids per query of the sweep
_SWEEP_CLOCK_MARGIN = timedelta(seconds=2)  # the hosts' clocks (a worker's sets updated_at) may differ this much
_UNLISTENED_RECHECK_SECONDS = 1.0


def _changed_since(task_ids: list[str], since: datetime) -> list[str]:
    """Those of `task_ids` whose task changed since `since` (every change of a task sets `updated_at`)
    or is gone, read `_SWEEP_BATCH` at a time."""
    unchanged: set[str] = set()
    try:
        for start in range(0, len(task_ids), _SWEEP_BATCH):
            unchanged |= fastpath.tasks_unchanged(task_ids[start : start + _SWEEP_BATCH], since)
    finally:
        _release_database()
    return [task_id for task_id in task_ids if task_id not in unchanged]


class _Hub:
    def __init__(self, url: str):
        self.url = url
        self.loop = asyncio.get_running_loop()
        self.waiters: dict[str, set[_AsyncWatch]] = {}
        self.listening = False
        self.alarms: list[tuple[float, int, asyncio.Future]] = []  # (when, order, the wait it ends)
        self.timer: asyncio.Handle | None = None  # (uvloop's handles do not say when they are due)
        self.timer_at = 0.0
        self.order = itertools.count()
        self.listener = self.loop.create_task(self._listen())
        self.sweeper = self.loop.create_task(self._sweep())

    def add(self, task_id: str, watch: _AsyncWatch) -> None:
        self.waiters.setdefault(task_id, set()).add(watch)

    def discard(self, task_id: str, watch: _AsyncWatch) -> None:
        watches = self.waiters.get(task_id)
        if watches is not None:
            watches.discard(watch)
            if not watches:
                del self.waiters[task_id]

    def alarm(self, when: float, wait: asyncio.Future) -> None:
        """End `wait` (with False: only the time ran out) at `when` (the loop's clock), unless
        something ends it first."""
        heapq.heappush(self.alarms, (when, next(self.order), wait))
        if self.timer is None or when < self.timer_at:
            if self.timer is not None:
                self.timer.cancel()
            self.timer, self.timer_at = self.loop.call_at(when, self._ring), when

    def _ring(self) -> None:
        self.timer = None
        now = self.loop.time()
        while self.alarms and self.alarms[0][0] <= now:
            wait = heapq.heappop(self.alarms)[2]
            if not wait.done():
                wait.set_result(False)
        if self.alarms:
            self.timer, self.timer_at = self.loop.call_at(self.alarms[0][0], self._ring), self.alarms[0][0]

    def _wake(self, task_id: str) -> None:
        for watch in self.waiters.get(task_id, ()):
            watch.poke()

    def _wake_all(self) -> None:
        for watches in self.waiters.values():
            for watch in watches:
                watch.poke()

    async def _sweep(self) -> None:
        """Wake the waiters of every task that changed since the last sweep began (or was deleted): a
        message lost between a worker and this process delays a waiter by at most _SWEEP_SECONDS. A
        waiter that came since read its task after subscribing: a later change is after that sweep too."""
        read = sync_to_async(_changed_since, thread_sensitive=False)
        since = timezone.now()
        while True:
            await asyncio.sleep(_SWEEP_SECONDS)
            task_ids, started = list(self.waiters), timezone.now()
            try:
                changed = await read(task_ids, since - _SWEEP_CLOCK_MARGIN)
            except Exception:  # noqa: BLE001  (the database away: the next sweep looks as far back)
                log.info("The sweep of waited tasks could not read them; trying again in %.0f s", _SWEEP_SECONDS)
                continue
            for task_id in changed:
                self._wake(task_id)
            since = started

    async def _listen(self) -> None:
        prefix = len(_PATTERN) - 1
        while True:
            client = redis.asyncio.Redis.from_url(self.url, socket_connect_timeout=2, health_check_interval=10)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.psubscribe(_PATTERN)
                    self.listening = True
                    self._wake_all()
                    while True:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
                        if message is not None and message["type"] == "pmessage":
                            self._wake(message["channel"].decode()[prefix:])
            except (redis.RedisError, OSError):
                log.info("The task-change subscription is down; waiters re-read their tasks meanwhile")
            finally:
                self.listening = False
                await client.aclose()
            self._wake_all()
            await asyncio.sleep(1)


_hubs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _hub() -> _Hub | None:
    url = shared_redis_url()
    if url is None:
        return None
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = _Hub(url)
    return hub


class _AsyncWatch:
    __slots__ = ("changed", "hub", "wait_future")

    def __init__(self, hub: _Hub | None):
        self.hub = hub
        self.changed = False  # a change announced while nobody waited: the next wait returns at once
        self.wait_future: asyncio.Future | None = None

    def poke(self) -> None:
        """The task may have changed (or the subscription came back)."""
        if self.wait_future is not None and not self.wait_future.done():
            self.wait_future.set_result(True)
        else:
            self.changed = True

    async def wait(self, seconds: float) -> bool:
        """Wait until the task may have changed, or `seconds` pass. True when it is worth reading the
        row again (a change announced, seen by the sweep, or no subscription to rely on); False
        when only the time ran out — a caller sending a keep-alive then need not read anything."""
        if self.hub is None:
            await asyncio.sleep(min(seconds, settings.WAIT_POLL_SECONDS))
            return True
        if not self.changed:
            if not self.hub.listening:
                seconds = min(seconds, _UNLISTENED_RECHECK_SECONDS)
            self.wait_future = self.hub.loop.create_future()
            self.hub.alarm(self.hub.loop.time() + seconds, self.wait_future)
            try:
                self.changed = await self.wait_future
            finally:
                self.wait_future = None
        if self.changed:
            self.changed = False
            return True
        return not self.hub.listening


@asynccontextmanager
async def task_watch_async(task_id: str):
    """`task_watch` for a coroutine: read the row after entering, and nothing is missed."""
    hub = _hub()
    watch = _AsyncWatch(hub)
    if hub is not None:
        hub.add(task_id, watch)
    WAITING_CLIENTS.inc()
    try:
        yield watch
    finally:  # also when the client went away: the server cancels the wait
        WAITING_CLIENTS.dec()
        if hub is not None:
            hub.discard(task_id, watch)
