"""Answering once a task has ended (or a wait ran out), for the views that wait: the long-poll
(`Prefer: wait=N`), the SSE stream and the OpenAI-compatible endpoints.

Under the ASGI server the wait holds no thread: the view returns a `DeferredResponse` (or an
asynchronous SSE body) and the event loop waits on the task's channel. Anywhere else (Django's test
client, a WSGI server) the same answer comes from the synchronous wait, which holds its thread."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.conf import settings
from rest_framework.exceptions import APIException

from jimeng_server.api import DeferredResponse, waits_async
from jimeng_server.errors import DomainError

from .. import selectors
from ..models import ImageTask


def answer_when_done(view, request, *, task: ImageTask, owner: str | None, seconds: float, answer):
    """`answer(task)` (a DRF Response) as soon as `task` is terminal, or as it is after `seconds`."""
    if task.is_terminal or seconds <= 0:
        return answer(task)
    if not waits_async(request):
        return answer(selectors.task_wait(task_id=task.id, owner=owner, seconds=seconds))

    def respond(outcome):
        # What the view's own dispatch would do with the answer, or with an error raised meanwhile
        # (the task deleted): the envelope, negotiated and rendered.
        try:
            response = answer(outcome) if isinstance(outcome, ImageTask) else view.handle_exception(outcome)
        except (DomainError, APIException) as exc:
            response = view.handle_exception(exc)
        response = view.finalize_response(request, response)
        return response.render()

    async def resolve():
        try:
            outcome = await selectors.task_wait_async(task_id=task.id, owner=owner, seconds=seconds)
        except DomainError as exc:  # the task deleted meanwhile: answered in the envelope
            outcome = exc
        return await sync_to_async(respond, thread_sensitive=False)(outcome)

    return DeferredResponse(resolve)


def status_changes(request, *, task_id: str, owner: str | None):
    """The task now, then at each status change, until it ends (None: a keep-alive is due): an
    asynchronous iterator under the ASGI server, a synchronous one elsewhere."""
    seconds, idle = settings.SSE_MAX_SECONDS, settings.SSE_KEEPALIVE_SECONDS
    if waits_async(request):
        return selectors.task_status_changes_async(task_id=task_id, owner=owner, seconds=seconds, idle=idle)
    return selectors.task_status_changes(task_id=task_id, owner=owner, seconds=seconds, idle=idle)
