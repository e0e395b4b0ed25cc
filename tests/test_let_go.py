"""Once the ASGI handler has answered a request, its view, DRF request and response are freed by
reference counting (jimeng_server/apiview.py `let_go`), not left in cycles for the garbage collector:
a request that waited (a long-poll, an event stream) has outlived the young collections by then, and
what it left would wait for a full collection of the whole heap."""

import asyncio
import gc
import weakref

import pytest

from jimeng_server import apiview
from jimeng_server import fastpath as project_fastpath
from tests.asgi_ask import ask
from tests.create import create_task

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def views_made(monkeypatch):
    made = []
    initialize = apiview.APIView.initialize_request

    def remembered(self, request, *args, **kwargs):
        made.append(weakref.ref(self))
        return initialize(self, request, *args, **kwargs)

    monkeypatch.setattr(apiview.APIView, "initialize_request", remembered)
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()  # what is freed now is freed by reference counting
    yield made
    if enabled:
        gc.enable()


def test_an_answered_requests_view_is_freed_without_the_garbage_collector(settings, views_made):
    from jimeng_server.asgi import Handler

    settings.FASTPATH = True
    settings.SSE_MAX_SECONDS = 1
    task = create_task(user_id="u1", prompt="a cat").id
    application = project_fastpath.asgi_handler(Handler)()
    asks = [
        ("/api/v1/ping", "POST", b'{"a": 1}', (), 200),
        (f"/api/v1/tasks/{task}", "GET", b"", (), 200),
        ("/api/v1/tasks/nope", "GET", b"", (), 404),
        ("/api/v1/ai/image/task", "POST", b"{broken", (), 400),
        (f"/api/v1/ai/image/result/{task}", "GET", b"", ((b"prefer", b"wait=1"),), 200),  # a long-poll, timed out
        (f"/api/v1/tasks/{task}/events", "GET", b"", ((b"accept", b"text/event-stream"),), 200),  # a stream, ended
    ]
    for path, method, body, headers, status in asks:
        before = len(views_made)
        status_got, _, _ = asyncio.run(ask(application, path, method, body, headers, answering=True))
        assert status_got == status
        assert len(views_made) == before + 1, path
        assert views_made[-1]() is None, f"{method} {path}: its view is still referenced after the answer"
