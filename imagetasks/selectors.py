"""Reads of image tasks."""

import random
import time

from asgiref.sync import sync_to_async
from django.db.models import QuerySet

from jimeng_server.errors import NotFound
from jimeng_server.mongodb.lookups import string_indexed

from .events import task_watch, task_watch_async
from .models import ImageTask

# What a poll's answer (representation.task_summary) reads: a poll loads nothing else.
SUMMARY_FIELDS = ("id", "status", "provider", "result", "error_code", "error_message", "files_expired_at")


def task_get(*, task_id: str, owner: str | None = None, fields: tuple[str, ...] | None = None) -> ImageTask:
    """The task (only `fields`, if given); with an `owner`, only if it is that user's (anyone
    else's is "not found"). One lookup by primary key."""
    tasks = ImageTask.objects.filter(user_id=owner) if owner is not None else ImageTask.objects.all()
    if fields is not None:
        tasks = tasks.only(*fields)
    try:
        return tasks.get(pk=task_id)
    except ImageTask.DoesNotExist:
        raise NotFound(f"Task '{task_id}' not found.") from None


def task_get_by_external_id(*, user_id: str, external_task_id: str) -> ImageTask:
    try:
        return ImageTask.objects.get(
            user_id=user_id, external_task_id=external_task_id, **string_indexed("user_id", "external_task_id")
        )
    except ImageTask.DoesNotExist:
        raise NotFound(f"User '{user_id}' has no task with external_task_id '{external_task_id}'.") from None


def task_list_for_user(*, user_id: str, status: str | None = None) -> QuerySet[ImageTask]:
    tasks = ImageTask.objects.filter(user_id=user_id).order_by("-created_at", "-id")
    if status:
        tasks = tasks.filter(status=status)
    return tasks


def tasks_waiting_for_slot() -> int:
    from .models import Status

    return ImageTask.objects.filter(status=Status.PENDING, waiting_since__isnull=False).count()


def task_counts_by_status() -> dict[str, int]:
    from .models import Status

    return {status: ImageTask.objects.filter(status=status).count() for status in Status.values}


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


def task_status_changes(*, task_id: str, owner: str | None = None, seconds: float, idle: float):
    """Yield the task whenever its status changes (first as it is now) until it is terminal or
    `seconds` pass; yield None after `idle` seconds without a change (a keep-alive)."""
    deadline = time.monotonic() + seconds
    with task_watch(task_id) as watch:
        task = task_get(task_id=task_id, owner=owner)
        yield task
        last, quiet_since = task.status, time.monotonic()
        while not task.is_terminal and (left := deadline - time.monotonic()) > 0:
            watch.wait(min(left, idle))
            task = task_get(task_id=task_id, owner=owner)
            if task.status != last:
                last, quiet_since = task.status, time.monotonic()
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
            if await watch.wait(left) or deadline <= time.monotonic():
                task = await _task_get(task_id=task_id, owner=owner)
    return task


async def task_status_changes_async(*, task_id: str, owner: str | None = None, seconds: float, idle: float):
    deadline = time.monotonic() + seconds
    idle *= random.uniform(0.7, 1.0)  # streams opened together do not all send their keep-alives together
    async with task_watch_async(task_id) as watch:
        task = await _task_get(task_id=task_id, owner=owner)
        yield task
        last, quiet_since = task.status, time.monotonic()
        while not task.is_terminal and (left := deadline - time.monotonic()) > 0:
            if await watch.wait(max(0.05, min(left, idle - (time.monotonic() - quiet_since)))):
                task = await _task_get(task_id=task_id, owner=owner)  # read only when it may have changed
                if task.status != last:
                    last, quiet_since = task.status, time.monotonic()
                    yield task
                    continue
            if time.monotonic() - quiet_since >= idle:
                quiet_since = time.monotonic()
                yield None
