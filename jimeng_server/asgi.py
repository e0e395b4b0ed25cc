"""ASGI entry point: what the web server runs (uvicorn workers under gunicorn, see the Procfile).

Views are synchronous. What waits holds no thread: a long-poll or an OpenAI-compatible wait answers
with a `DeferredResponse`, which this handler awaits in the event loop; the SSE stream's body is an
asynchronous iterator. Both wait on one shared Redis subscription per process (imagetasks/events.py),
holding neither a thread nor a database connection, and both are cancelled the moment their client
disconnects (the edge cancels the task answering it; with FASTPATH off, Django's handler listens for
it). A body that may not be read is refused before Django reads any of it (jimeng_server/edge.py).
The shortcuts past Django's handler are in jimeng_server/fastpath.py."""

import os

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import response_for_exception

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jimeng_server.settings")
django.setup(set_prefix=False)

from jimeng_server import fastpath, garbage  # noqa: E402  (needs the settings)
from jimeng_server.api import DeferredResponse  # noqa: E402
from jimeng_server.edge import body_refusal, refusal_bytes  # noqa: E402


class Handler(ASGIHandler):
    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            refusal = body_refusal(
                scope["path"],
                headers.get(b"content-length", b"").decode("latin-1"),
                headers.get(b"transfer-encoding", b"").decode("latin-1"),
            )
            if refusal is not None:
                await _refuse(send, *refusal)
                return
        await self.dispatch(scope, receive, send)

    async def dispatch(self, scope, receive, send):
        await super().__call__(scope, receive, send)

    async def get_response_async(self, request):
        request.waits_async = True
        response = await self.respond(request)
        if isinstance(response, DeferredResponse):
            response = await _resolved(request, response)
        return response

    async def respond(self, request):
        return await super().get_response_async(request)


async def _resolved(request, deferred: DeferredResponse):
    """The answer a deferred response waited for, with the headers the middleware put on it."""
    try:
        final = await deferred.resolve()
    except Exception as exc:  # noqa: BLE001  (what Django does with a view's exception: handler500)
        final = await sync_to_async(response_for_exception, thread_sensitive=False)(request, exc)
    for name, value in deferred.items():  # what the middleware added (security headers, Vary…)
        if name.lower() not in ("content-type", "content-length"):
            final.headers.setdefault(name, value)
    if not final.streaming:
        final["Content-Length"] = str(len(final.content))
    deferred.close()  # its closers (the request's uploaded files) run now; the final answer's, once sent
    return final


async def _refuse(send, status: int, message: str) -> None:
    body = refusal_bytes(status, message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),  # the unread body is not waited for
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


application = fastpath.asgi_handler(Handler)()

garbage.prepare()  # everything loaded so far lives as long as the process
