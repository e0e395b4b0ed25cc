"""Once the ASGI handler has answered a request, its view, DRF request and response are freed by
reference counting (jimeng_server/apiview.py `let_go`), not left in cycles for the garbage collector:
a request that waited (a long-poll, an event stream) has outlived the young collections by then, and
what it left would wait for a full collection of the whole heap."""

import asyncio
import gc
import weakref

import pytest
from asgiref.testing import ApplicationCommunicator

from jimeng_server import apiview
from jimeng_server import fastpath as project_fastpath
from jimeng_server.edge import ANSWERING
from tests.create import create_task

pytestmark = pytest.mark.django_db(transaction=True)


async def _ask(application, path: str, method: str = "GET", body: bytes = b"", headers=()) -> int:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "scheme": "http",
        "http_version": "1.1",
        "asgi": {"version": "3.0"},
        ANSWERING: [],  # as the server's HTTP protocol gives it (jimeng_server/edge.py)
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
    start = await communicator.receive_output(10)
    while (await communicator.receive_output(10)).get("more_body"):
        pass
    await communicator.wait(5)
    return start["status"]


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
        assert asyncio.run(_ask(application, path, method, body, headers)) == status
        assert len(views_made) == before + 1, path
        assert views_made[-1]() is None, f"{method} {path}: its view is still referenced after the answer"
