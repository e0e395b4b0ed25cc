"""`GET /api/v1/tasks/:id/events`: server-sent events — the task now, then each change (its status, and
while it waits its place in line), then the stream closes. Each event carries an `id:`; a client that
reconnects with `Last-Event-ID` gets what it has not seen, nothing twice: a status it missed while away
(processing, for a task that ended meanwhile) is sent before the one the task is in.

A pending task's place in line is looked at again at a quiet moment (a keep-alive), not at every one:
the further back it is, the rarer — after half a second per place ahead, or a quarter of its ETA if
that is sooner, at most every 5 minutes (`EventLog.look_due`). A look is a read and a count of the line
ahead; at a keep-alive each, 5,000 streams far back in a line of 10,000 cost ~400 of them a second, and
the web server's p99 (P6) with it. A change of status is told at once, whatever the place."""

from __future__ import annotations

import time

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response

from jimeng_server.api import JSONRenderer, error_responses
from jimeng_server.apiview import APIView
from jimeng_server.auth import principal
from jimeng_server.errors import TooManyRequests
from jimeng_server.text import json_text

from .. import selectors
from ..models import TERMINAL_STATUSES, Status
from ..representation import STATUS_MESSAGES, task_detail
from .waiting import status_changes

KEEP_ALIVE = ": keep-alive\n\n"
LOOK_PER_PLACE_SECONDS, LOOK_ETA_SHARE, LOOK_MOST_SECONDS = 0.5, 0.25, 300.0


def _rank(status: str) -> int:
    return 3 if status in TERMINAL_STATUSES else 2 if status == Status.PROCESSING else 1


class EventLog:
    """What one stream has sent (as the client's Last-Event-ID says, on a reconnect): event ids are
    `1.<queue position>` while pending, `2` processing (`2.<k>`: a set's k-th image arrived), `3` ended."""

    def __init__(self, request, last_event_id: str):
        self.request = request
        rank, _, position = (last_event_id or "").partition(".")
        self.last = (int(rank), int(position) if position.isdigit() else 0) if rank in ("1", "2", "3") else None
        self.look_at = 0.0  # (monotonic) when a quiet moment may look at the task's place again

    def look_due(self) -> bool:
        """Whether a quiet moment should read the task again to tell its place (see the module's doc)."""
        return (self.last is None or self.last[0] == 1) and time.monotonic() >= self.look_at

    def looked(self, position: int, eta_seconds: float | None) -> None:
        after = min(LOOK_MOST_SECONDS, position * LOOK_PER_PLACE_SECONDS)
        if eta_seconds:  # a line that moves fast is looked at more often
            after = min(after, eta_seconds * LOOK_ETA_SHARE)
        self.look_at = time.monotonic() + after

    def frames(self, task) -> list[str]:
        """The events for the task as it is now that the client has not seen."""
        detail = task_detail(task, self.request)
        rank = _rank(task.status)
        images = (detail.get("result") or {}).get("images") or [] if task.status != Status.PENDING else []
        state = (rank, detail.get("queue_position", 0) if rank == 1 else len(images) if rank == 2 else 0)
        if rank == 1:
            self.looked(state[1], detail.get("eta_seconds"))
        if self.last == state or (self.last is not None and self.last[0] == 3):
            return []
        frames = []
        waited = self.last is None or self.last[0] == 1
        if rank == 2 and waited:
            frames.append(_frame("2", "status", detail))
        elif rank == 3 and waited and self.last is not None and task.started_at is not None:
            frames.append(_frame("2", "status", _as_processing(detail)))  # it ran while the client was away
        if rank == 2 or (self.last is not None and "requested" in (detail.get("result") or {})):
            seen = self.last[1] if self.last is not None and self.last[0] == 2 else 0
            for count, image in enumerate(images[seen:], start=seen + 1):  # a set's images, each as it came
                frames.append(_frame(f"2.{count}", "image", {"task_id": task.id, "count": count, "image": image}))
        if rank != 2:
            frames.append(_frame(_ident(state), "status", detail))
        self.last = state
        return frames


def _ident(state: tuple[int, int]) -> str:
    return f"1.{state[1]}" if state[0] == 1 else f"2.{state[1]}" if state[0] == 2 and state[1] else str(state[0])


def _as_processing(detail: dict) -> dict:
    seen = {key: value for key, value in detail.items() if key not in ("result", "error", "finished_at")}
    return seen | {"status": Status.PROCESSING, "message": STATUS_MESSAGES[Status.PROCESSING], "finished_at": None}


def _frame(ident: str | None, event: str, data: dict) -> str:
    head = f"id: {ident}\n" if ident else ""
    return f"{head}event: {event}\ndata: {json_text(data)}\n\n"


class EventStreamRenderer(BaseRenderer):
    media_type = "text/event-stream"
    format = "sse"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


_task_get = sync_to_async(selectors.task_get, thread_sensitive=False)


async def _frames(log: EventLog, task) -> list[str]:
    return await sync_to_async(log.frames, thread_sensitive=False)(task)


class TaskEventsView(APIView):
    """Server-sent events: the task now, then each change, then the stream closes."""

    renderer_classes = [EventStreamRenderer, JSONRenderer]

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response):  # an error, in the envelope, as JSON
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(
        parameters=[OpenApiParameter("Last-Event-ID", str, OpenApiParameter.HEADER, description="Resume a stream.")],
        responses={(200, "text/event-stream"): OpenApiTypes.STR, **error_responses(404)},
        summary="Stream a task's changes (server-sent events, with ids to resume from); closes when it ends",
    )
    def get(self, request, task_id: str):
        owner = principal(request).owner_filter()
        selectors.task_get(task_id=task_id, owner=owner)  # a 404 in the envelope before any streaming
        log = EventLog(request, request.headers.get("Last-Event-ID", "").strip()[:16])
        changes = status_changes(request, task_id=task_id, owner=owner)
        end = _frame(None, "end", {"task_id": task_id})

        if hasattr(changes, "__aiter__"):

            async def stream():
                try:
                    async for task in changes:
                        if task is None and log.look_due():  # a quiet moment: has its place in line moved?
                            task = await _task_get(task_id=task_id, owner=owner)
                        # (reading a task's place in line reads the database: in a thread, not the loop)
                        chunks = await _frames(log, task) if task is not None else []
                        task = None  # while it waits, the stream holds what it sent last (the log), not a row
                        for chunk in chunks or [KEEP_ALIVE]:
                            yield chunk
                except TooManyRequests as exc:  # opened together with others past WAITS_PER_KEY
                    yield _frame(None, "error", {"task_id": task_id, "message": exc.message})
                yield end
        else:

            def stream():
                try:
                    for task in changes:
                        if task is None and log.look_due():
                            task = selectors.task_get(task_id=task_id, owner=owner)
                        yield from (log.frames(task) if task is not None else []) or [KEEP_ALIVE]
                except TooManyRequests as exc:
                    yield _frame(None, "error", {"task_id": task_id, "message": exc.message})
                yield end

        response = StreamingHttpResponse(stream(), content_type="text/event-stream; charset=utf-8")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # nginx: pass events through as they come
        return response
