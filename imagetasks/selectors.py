"""Reads of image tasks."""

import random
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from jimeng_server.errors import NotFound
from jimeng_server.memo import Memo
from jimeng_server.mongodb.lookups import string_indexed
from providers import registry

from . import cadence, fastpath
from .capacity import accounts_counted, capacity
from .events import task_watch, task_watch_async
from .kinds import kinds, model_resolve
from .models import ImageTask, Status, UpstreamAccount

# What a poll's answer (representation.task_summary) reads: a poll loads nothing else.
SUMMARY_FIELDS = (
    "id",
    "kind",
    "status",
    "provider",
    "model",
    "result",
    "attempts",  # a running set's images so far are this attempt's
    "error_code",
    "error_message",
    "files_expired_at",
    "waiting_since",
    "queue_ticket",
    "created_at",
)


def task_get(*, task_id: str, owner: str | None = None, fields: tuple[str, ...] | None = None) -> ImageTask:
    """The task (only `fields`, if given); with an `owner`, only if it is that user's (anyone
    else's is "not found"). One lookup by primary key."""
    task = task_find(task_id=task_id, owner=owner, fields=fields)
    if task is None:
        raise NotFound(f"Task '{task_id}' not found.")
    return task


def task_find(*, task_id: str, owner: str | None = None, fields: tuple[str, ...] | None = None) -> ImageTask | None:
    """`task_get`, with None for a task that is not there."""
    return fastpath.task_read(task_id, owner, fields)


def task_get_by_external_id(*, user_id: str, external_task_id: str) -> ImageTask:
    try:
        return ImageTask.objects.get(
            user_id=user_id, external_task_id=external_task_id, **string_indexed("user_id", "external_task_id")
        )
    except ImageTask.DoesNotExist:
        raise NotFound(f"User '{user_id}' has no task with external_task_id '{external_task_id}'.") from None


def task_list_for_user(*, user_id: str, status: str | None = None, kind: str | None = None) -> QuerySet[ImageTask]:
    tasks = ImageTask.objects.filter(user_id=user_id).order_by("-created_at", "-id")
    if status:
        tasks = tasks.filter(status=status)
    if kind:
        tasks = tasks.filter(kind=kind)
    return tasks


def accounts_standing() -> list[dict]:
    """Every configured upstream account of the live providers: in rotation or not (with the reason),
    and the generations running on it now. No credentials."""
    rows = {row.pk: row for row in UpstreamAccount.objects.all()}
    standing = []
    for name in registry.provider_names():
        provider = registry.provider_get(name)
        if name == "local" or not provider.is_configured():
            continue
        accounts = provider.accounts()
        counted = accounts_counted(accounts)
        for account in accounts:
            row = rows.get(f"{name}:{account.name}")
            out = row is not None and not row.in_rotation and row.keys_fingerprint in ("", account.fingerprint)
            in_flight = None  # a single account without a cap of its own is not counted apart
            if counted:
                try:
                    in_flight = capacity().account_in_use(name, account.name)
                except Exception:  # noqa: BLE001 - Redis away: /health says so elsewhere
                    in_flight = None
            standing.append(
                {
                    "provider": name,
                    "name": account.name,
                    "in_rotation": not out,
                    "reason": row.reason if row is not None else "",
                    "changed_at": row.changed_at.isoformat() if row is not None else None,
                    "concurrency": account.concurrency,
                    "weight": account.weight,
                    "in_flight": in_flight,
                }
            )
    return standing


_running = Memo(1.0)  # provider -> start times of its running tasks


def queue_place(task: ImageTask) -> dict | None:
    """For a pending task: `queue_position` (how many of its provider's tasks start before it; 0: the
    next) and `eta_seconds` (until it starts: the running tasks' expected ends, then one run time per
    round of the cap ahead of it; 0 without a cap — a worker takes it as soon as it can). The run time
    is the one measured here, or before any was, what the provider expects of the model. None once it
    no longer waits."""
    if task.status != Status.PENDING:
        return None
    in_line = task.queue_ticket is not None  # parked, or woken and on its way to its slot
    position = _parked_position(task) if in_line else _pending_ahead(task)
    cap = _cap(task)
    if not cap:
        return {"queue_position": position, "eta_seconds": 0.0}
    provider = registry.provider_get(task.provider)
    run = cadence.run_seconds(task.provider, task.model) or provider.expected_seconds(model_resolve(task.model))
    started = _running.get(
        task.provider,
        lambda: list(
            ImageTask.objects.filter(status=Status.PROCESSING, provider=task.provider)
            .exclude(started_at=None)
            .values_list("started_at", flat=True)[:cap]
        ),
    )
    moment = timezone.now()
    ends = sorted(max(0.0, run - (moment - at).total_seconds()) for at in started)[:cap]
    ends += [0.0] * (cap - len(ends))
    rounds, slot = divmod(position, cap)
    return {"queue_position": position, "eta_seconds": round(ends[slot] + rounds * run, 1)}


def _parked_position(task: ImageTask) -> int:
    """In line for a slot: how many tasks of its provider start before it in the fair order
    (services/slots.tasks_wake: by start tag, then time parked, then id): an index-range count, and a
    count of the few that share its tag (two workers parking one user's tasks at once). A task woken
    and on its way to its slot keeps its tag until it starts: still ahead of those parked with the
    same tag (were it left out, a place would go down and back up again when such a task lost its
    slot and parked again) — and, woken itself, a task is placed by its tag as well (by the
    first-come count it would go back behind tasks made before it that parked after it)."""
    ahead = ImageTask.objects.filter(provider=task.provider, queue_ticket__lt=task.queue_ticket).count()
    beside = ImageTask.objects.filter(provider=task.provider, queue_ticket=task.queue_ticket).exclude(pk=task.pk)
    if task.waiting_since is None:  # woken: behind only those woken before it with its tag
        earlier = Q(waiting_since__isnull=True, pk__lt=task.pk)
    else:
        earlier = (
            Q(waiting_since__isnull=True)
            | Q(waiting_since__lt=task.waiting_since)
            | Q(waiting_since=task.waiting_since, pk__lt=task.pk)
        )
    return ahead + beside.filter(earlier).count()


_AHEAD_SECONDS, _AHEAD_MOST = 1.0, 10_000
_ahead_counted: dict[str, tuple[float, int]] = {}  # task id -> (when, how many ahead), this process


def _pending_ahead(task: ImageTask) -> int:
    """`_pending_ahead_count`, counted at most once a second per task in this process (a client that
    polls its task many times a second costs one count a second)."""
    now = time.monotonic()
    counted = _ahead_counted.get(task.id)
    if counted is not None and now - counted[0] < _AHEAD_SECONDS:
        return counted[1]
    if len(_ahead_counted) >= _AHEAD_MOST:
        _ahead_counted.clear()
    ahead = _ahead_counted[task.id] = (now, _pending_ahead_count(task))
    return ahead[1]


def _pending_ahead_count(task: ImageTask) -> int:
    """Waiting for a worker (or its first message): every task parked behind the cap starts before it,
    and every other pending task of its provider made before it."""
    # Two index-range counts, whatever the backlog's size: the pending tasks made before it (the
    # provider's pending line, index only: parked ones among them are ahead too), and the parked ones
    # made after it (only parked rows are read). Tasks made in the same millisecond count as beside it.
    # (On SQLite both in one statement built once: imagetasks/fastpath.pending_ahead_count.)
    return fastpath.pending_ahead_count(task.provider, task.created_at, task.id)


def _cap(task: ImageTask) -> int:
    accounts = registry.provider_get(task.provider).accounts()
    account_caps = sum(account.concurrency for account in accounts) if all(a.concurrency for a in accounts) else 0
    caps = [registry.provider_cap(task.provider), settings.MODEL_CONCURRENCY.get(task.model, 0), account_caps]
    return min((cap for cap in caps if cap), default=0)


def tasks_waiting_for_slot() -> int:
    return ImageTask.objects.filter(status=Status.PENDING, waiting_since__isnull=False).count()


def task_counts_by_status() -> dict[tuple[str, str], int]:
    """(status, kind) -> tasks, for every kind this server runs: indexed counts only."""
    return {
        (status, kind): ImageTask.objects.filter(kind=kind, status=status).count()
        for status in Status.values
        for kind in kinds()
    }


def task_wait(*, task_id: str, owner: str | None = None, seconds: float) -> ImageTask:
    """The task as soon as it is terminal, or as it is after `seconds` (long-poll). Holds no
    database connection while it waits."""
    deadline = time.monotonic() + seconds
    with task_watch(task_id) as watch:
        task = task_get(task_id=task_id, owner=owner)
        while not task.is_terminal and (left := deadline - time.monotonic()) > 0:
            watch.wait(left)
            task = task_get(task_id=task_id, owner=owner)
    return task


def _progress(task: ImageTask) -> tuple[str, int]:
    """What a watcher is told of: the status, and a running set's images so far."""
    return task.status, len((task.result or {}).get("images", ())) if task.status == Status.PROCESSING else 0


def task_status_changes(*, task_id: str, owner: str | None = None, seconds: float, idle: float):
    """Yield the task whenever its status changes (first as it is now) until it is terminal or
    `seconds` pass; yield None after `idle` seconds without a change (a keep-alive)."""
    deadline = time.monotonic() + seconds
    with task_watch(task_id) as watch:
        task = task_get(task_id=task_id, owner=owner)
        yield task
        last, quiet_since = _progress(task), time.monotonic()
        while not task.is_terminal and (left := deadline - time.monotonic()) > 0:
            watch.wait(min(left, idle))
            task = task_get(task_id=task_id, owner=owner)
            if _progress(task) != last:
                last, quiet_since = _progress(task), time.monotonic()
                yield task
            elif time.monotonic() - quiet_since >= idle:
                quiet_since = time.monotonic()
                yield None


# The same two waits for a coroutine (the ASGI server): the wait holds no thread and no database
# connection; each read is one short hop to a thread of the server's pool.
_task_get = sync_to_async(task_get, thread_sensitive=False)


async def task_wait_async(*, task_id: str, owner: str | None = None, seconds: float) -> ImageTask:
    deadline = time.monotonic() + seconds
    async with task_watch_async(task_id) as watch:
        task = await _task_get(task_id=task_id, owner=owner)
        while not task.is_terminal and (left := deadline - time.monotonic()) > 0:
            del task  # a waiter holds its watch, not a row: read again whenever the wait ends
            await watch.wait(left)
            task = await _task_get(task_id=task_id, owner=owner)
    return task


async def task_status_changes_async(*, task_id: str, owner: str | None = None, seconds: float, idle: float):
    deadline = time.monotonic() + seconds
    idle *= random.uniform(0.7, 1.0)  # streams opened together do not all send their keep-alives together
    async with task_watch_async(task_id) as watch:
        task = await _task_get(task_id=task_id, owner=owner)
        yield task
        last, quiet_since, ended = _progress(task), time.monotonic(), task.is_terminal
        del task  # a stream holds its watch and what it last sent, not a row
        while not ended and (left := deadline - time.monotonic()) > 0:
            if await watch.wait(max(0.05, min(left, idle - (time.monotonic() - quiet_since)))):
                task = await _task_get(task_id=task_id, owner=owner)  # read only when it may have changed
                if _progress(task) != last:
                    last, quiet_since, ended = _progress(task), time.monotonic(), task.is_terminal
                    yield task
                    del task
                    continue
                del task
            if time.monotonic() - quiet_since >= idle:
                quiet_since = time.monotonic()
                yield None
