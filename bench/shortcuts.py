"""What each shortcut past the framework gains (FASTPATH on against off, side by side in one process,
on a throwaway SQLite database): a task read by key, a task's INSERT, the count ahead of a pending
task, the waiters' sweep's read, a create's request validation, and the ASGI handler's one thread
hop for a request. Each figure is plain time ÷ shortcut time (above 1: the shortcut is faster);
`make bench` prints them and holds each to the goal that earns it its place.

Run alone: `.venv/bin/python -m bench.shortcuts` (prints JSON)."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 7


def _setup() -> None:
    data = tempfile.mkdtemp(prefix="jimeng-shortcuts-")
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "jimeng_server.settings",
            "JIMENG_DATA_DIR": data,
            "JIMENG_ENV_FILE": os.path.join(data, "none.env"),
            "LOG_LEVEL": "WARNING",
            "USER_MAX_ACTIVE_TASKS": "0",
            "USER_DAILY_TASK_QUOTA": "0",
        }
    )
    for name in ("MONGODB_URI", "DATABASE_URL", "REDIS_ADDR", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _timed(call, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - started) / count


def _gain(settings, call, count: int) -> tuple[float, float]:
    """(plain µs, shortcut µs): medians of alternating rounds."""
    fast, plain = [], []
    for _ in range(ROUNDS):
        settings.FASTPATH = True
        fast.append(_timed(call, count))
        settings.FASTPATH = False
        plain.append(_timed(call, count))
    settings.FASTPATH = True
    return statistics.median(plain) * 1e6, statistics.median(fast) * 1e6


def measure() -> dict[str, tuple[float, float]]:
    _setup()
    from django.conf import settings
    from django.utils import timezone

    from imagetasks import fastpath
    from imagetasks.api.serializers import create_serializer
    from imagetasks.kinds import TaskRequest
    from imagetasks.services import task_create
    from jimeng_server import fastpath as project_fastpath
    from jimeng_server.asgi import Handler

    task = task_create(TaskRequest(kind="image", user_id="bench", prompt="a lighthouse"))
    figures = {
        "task read by key (imagetasks/fastpath.task_read)": _gain(
            settings, lambda: fastpath.task_read(task.id, None, ("id", "status", "result")), 2000
        ),
        "task INSERT (imagetasks/fastpath.task_insert)": _gain(
            settings, lambda: task_create(TaskRequest(kind="image", user_id="bench", prompt="a lighthouse")), 300
        ),
    }
    waited = [task_create(TaskRequest(kind="image", user_id="bench", prompt="a lighthouse")).id for _ in range(500)]
    since = timezone.now() - timedelta(seconds=2)
    figures["the count ahead of a pending task (imagetasks/fastpath.pending_ahead_count)"] = _gain(
        settings, lambda: fastpath.pending_ahead_count(task.provider, task.created_at, task.id), 2000
    )
    figures["which waited tasks changed, 500 ids (imagetasks/fastpath.tasks_unchanged)"] = _gain(
        settings, lambda: fastpath.tasks_unchanged(waited, since), 50
    )
    body = {"prompt": "a lighthouse at dusk", "user_id": "bench", "model": "jimeng_t2i_v30", "size": "1328x1328"}
    figures["create validation (jimeng_server/fastpath.FieldsBuiltOnce)"] = _gain(
        settings, lambda: create_serializer("image")(data=body).is_valid(), 2000
    )
    figures["a request through the ASGI handler (jimeng_server/fastpath.asgi_handler)"] = _asgi_gain(
        settings, project_fastpath, Handler
    )
    return figures


def _asgi_gain(settings, project_fastpath, handler) -> tuple[float, float]:
    from asgiref.testing import ApplicationCommunicator

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/ping",
        "raw_path": b"/api/v1/ping",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "scheme": "http",
        "http_version": "1.1",
        "asgi": {"version": "3.0"},
    }

    async def requests(application, count: int) -> float:
        started = time.perf_counter()
        for _ in range(count):
            communicator = ApplicationCommunicator(application, scope)
            await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
            while not (await communicator.receive_output(10)).get("body") is not None:
                pass
            await communicator.wait(10)
        return (time.perf_counter() - started) / count

    fast, plain = [], []
    for _ in range(ROUNDS):
        for on, into in ((True, fast), (False, plain)):
            settings.FASTPATH = on
            into.append(asyncio.run(requests(project_fastpath.asgi_handler(handler)(), 150)))
    settings.FASTPATH = True
    return statistics.median(plain) * 1e6, statistics.median(fast) * 1e6


if __name__ == "__main__":
    print(json.dumps(measure()))
