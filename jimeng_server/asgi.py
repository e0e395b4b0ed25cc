"""ASGI entry point: what the web server runs (uvicorn workers under gunicorn, see the Procfile).

Every view is synchronous and runs, with the whole middleware chain, in one hop to a thread of a
small pool — as under WSGI, with no thread hop per middleware. What waits holds no thread: a
long-poll or an OpenAI-compatible wait answers with a `DeferredResponse`, which this handler awaits
in the event loop; the SSE stream's body is an asynchronous iterator. Both wait on one shared Redis
subscription per process (imagetasks/events.py), holding neither a thread nor a database
connection, and both are cancelled the moment their client disconnects (Django's ASGI handler
listens for it)."""

import gc
import os

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import response_for_exception

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jimeng_server.settings")
django.setup(set_prefix=False)

from django.db import close_old_connections  # noqa: E402

from jimeng_server.api import DeferredResponse  # noqa: E402  (needs the settings)
from jimeng_server.edge import body_refusal, refusal_bytes  # noqa: E402


class Handler(ASGIHandler):
    async def __call__(self, scope, receive, send):
        # Django enters a ThreadSensitiveContext here, which starts a new thread per request for the
        # request signals' receivers; they are cheap and run on asgiref's one shared thread instead.
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        # A body that may not be read is refused before Django reads (and spools) any of it.
        headers = dict(scope["headers"])
        refusal = body_refusal(
            scope["path"],
            headers.get(b"content-length", b"").decode("latin-1"),
            headers.get(b"transfer-encoding", b"").decode("latin-1"),
        )
        if refusal is not None:
            await _refuse(send, *refusal)
            return
        await self.handle(scope, receive, send)

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)  # one synchronous chain, entered once per request

    async def get_response_async(self, request):
        request.waits_async = True
        response = await sync_to_async(self._respond, thread_sensitive=False)(request)
        if isinstance(response, DeferredResponse):
            try:
                final = await response.resolve()
            except Exception as exc:  # noqa: BLE001  (what Django does with a view's exception: handler500)
                final = await sync_to_async(response_for_exception, thread_sensitive=False)(request, exc)
            for name, value in response.items():  # what the middleware added (security headers, Vary…)
                if name.lower() not in ("content-type", "content-length"):
                    final.headers.setdefault(name, value)
            if not final.streaming:
                final["Content-Length"] = str(len(final.content))
            final._resource_closers.extend(response._resource_closers)
            response = final
        return response

    def _respond(self, request):
        # A pool thread keeps its own database connections: the checks Django's request signals make
        # (unusable or older than CONN_MAX_AGE: closed) are made here, in the thread that owns them.
        close_old_connections()
        return self.get_response(request)


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


application = Handler()

# Everything loaded so far lives as long as the process: the garbage collector need not walk it again
# at every full collection (with a thousand waiters, such a walk stalled requests for ~100 ms).
gc.collect()
gc.freeze()
gc.set_threshold(7000, 20, 100)
