"""Answering once a task has ended (or a wait ran out), for the views that wait: the long-poll
(`Prefer: wait=N`), the SSE stream and the OpenAI-compatible endpoints.

Under the ASGI server the wait holds no thread: the view returns a `DeferredResponse` (or an
asynchronous SSE body) and the event loop waits on the task's channel. Anywhere else (Django's test
client, a WSGI server) the same answer comes from the synchronous wait, which holds its thread."""

from __future__ import annotations

import random
import threading

from asgiref.sync import sync_to_async
from django.conf import settings
from rest_framework.exceptions import APIException

from jimeng_server.api import DeferredResponse, waits_async
from jimeng_server.auth import principal
from jimeng_server.errors import DomainError, TooManyRequests

from .. import selectors
from ..models import ImageTask


class OpenWaits:
    """Waits open at once in this process, per API key: at most WAITS_PER_KEY, so that one key cannot
    hold a process's connections. A wait is counted from the moment it starts waiting to the moment it
    ends, however it ends (the client gone included). Requests without a key (local mode: this machine
    only) are not counted."""

    def __init__(self):
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()

    def full(self, key: str | None) -> bool:
        return key is not None and self.counts.get(key, 0) >= settings.WAITS_PER_KEY

    def take(self, key: str | None) -> bool:
        if key is None:
            return True
        with self.lock:
            if self.counts.get(key, 0) >= settings.WAITS_PER_KEY:
                return False
            self.counts[key] = self.counts.get(key, 0) + 1
            return True

    def give(self, key: str | None) -> None:
        if key is None:
            return
        with self.lock:
            left = self.counts.get(key, 0) - 1
            if left > 0:
                self.counts[key] = left
            else:
                self.counts.pop(key, None)


open_waits = OpenWaits()


def _waiter(request) -> str | None:
    return principal(request).key_id


def too_many_waits() -> TooManyRequests:
    return TooManyRequests(
        f"This API key already has {settings.WAITS_PER_KEY} long-polls or event streams open here; "
        "close one, or poll without waiting.",
        retry_after=1,
    )


_SPREAD = 0.8  # a long-poll that runs out answers after 0.8 N to N seconds


def wait_spread(seconds: float) -> float:
    """How long a long-poll of `Prefer: wait=N` waits for a change: somewhere in N's last fifth (a wait
    is an upper bound, RFC 7240). Waits opened together — every client reconnecting after a restart, a
    batch waiting on its tasks — do not all run out, and come back, together (`make bench` P6's 10,000,
    opened in 18 s, came back within the same 18 s every minute, and the p99 of the rounds in that wave
    spiked); each round of waits spreads them further."""
    return seconds * random.uniform(_SPREAD, 1.0)


def answer_when_done(view, request, *, task: ImageTask, owner: str | None, seconds: float, answer):
    """`answer(task)` (a DRF Response) as soon as `task` is terminal, or as it is after `seconds`."""
    if task.is_terminal or seconds <= 0:
        return answer(task)
    waiter = _waiter(request)
    if not waits_async(request):
        if not open_waits.take(waiter):
            raise too_many_waits()
        try:
            return answer(selectors.task_wait(task_id=task.id, owner=owner, seconds=seconds))
        finally:
            open_waits.give(waiter)

    def respond(outcome):
        # What the view's own dispatch would do with the answer, or with an error raised meanwhile
        # (the task deleted): the envelope, negotiated and rendered.
        try:
            response = answer(outcome) if isinstance(outcome, ImageTask) else view.handle_exception(outcome)
        except (DomainError, APIException) as exc:
            response = view.handle_exception(exc)
        response = view.finalize_response(request, response)
        return response.render()

    task_id = task.id  # what the wait holds: the id, not the row

    async def resolve():
        if not open_waits.take(waiter):
            return await sync_to_async(respond, thread_sensitive=False)(too_many_waits())
        try:
            outcome = await selectors.task_wait_async(task_id=task_id, owner=owner, seconds=seconds)
        except DomainError as exc:  # the task deleted meanwhile: answered in the envelope
            outcome = exc
        finally:
            open_waits.give(waiter)
        return await sync_to_async(respond, thread_sensitive=False)(outcome)

    return DeferredResponse(resolve)


def status_changes(request, *, task_id: str, owner: str | None):
    """The task now, then at each status change, until it ends (None: a keep-alive is due): an
    asynchronous iterator under the ASGI server, a synchronous one elsewhere. A key with WAITS_PER_KEY
    waits open already is refused here (429); one that got past this look together with others is
    stopped by the count the stream takes when it starts (`TooManyRequests` from the iterator)."""
    waiter = _waiter(request)
    if open_waits.full(waiter):
        raise too_many_waits()
    seconds, idle = settings.SSE_MAX_SECONDS, settings.SSE_KEEPALIVE_SECONDS
    if waits_async(request):
        return _counted_async(
            waiter, selectors.task_status_changes_async(task_id=task_id, owner=owner, seconds=seconds, idle=idle)
        )
    return _counted(waiter, selectors.task_status_changes(task_id=task_id, owner=owner, seconds=seconds, idle=idle))


def _counted(waiter: str | None, changes):
    if not open_waits.take(waiter):
        raise too_many_waits()
    try:
        yield from changes
    finally:
        open_waits.give(waiter)


async def _counted_async(waiter: str | None, changes):
    if not open_waits.take(waiter):
        raise too_many_waits()
    try:
        async for task in changes:
            yield task
            del task  # not held while the next change is awaited
    finally:
        open_waits.give(waiter)
