"""Every shortcut past Django's and DRF's own machinery in the project package, in one place, behind
FASTPATH (`off`: the plain framework path, which gives the same answers — tests/test_fastpath.py).
Each is measured by `make bench`'s shortcut figures; one that no longer earns its place is removed.

- `asgi_handler`: the whole middleware chain and the view in one hop to a thread of a small pool, as
  under WSGI, instead of Django's hop per synchronous middleware and a new thread per request for the
  request signals (its ThreadSensitiveContext).
- `asgi_handler` answers a request in the server's task for it, which the edge cancels if the client
  goes away (jimeng_server/edge.py `ANSWERING`), instead of Django's two more tasks per request (one
  listening for the disconnect): ~2 KB less for every client waiting. Under a server without that
  list, Django's own.
- `asgi_handler` also drops, from a resolved request, the list of every URL pattern tried before the
  one that matched (~2 KB a request holds for as long as it waits; only DEBUG's 404 page reads it).
- `asgi_handler`, once a request is answered, breaks the cycles between its view, request and response
  (jimeng_server/apiview.py `let_go`): freed at once by reference counting instead of by the garbage
  collector — which, for a request that waited, means a full collection.
- `FieldsBuiltOnce`: request serializers that only validate build and bind their fields once per
  class, instead of DRF's deep copy of every declared field for every request (~0.3 ms of a create)."""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import get_script_prefix
from django.db import close_old_connections
from django.urls import set_script_prefix
from rest_framework import serializers
from rest_framework.utils.serializer_helpers import BindingDict

from .apiview import let_go
from .edge import ANSWERING


def asgi_handler(handler: type) -> type:
    """The project's ASGI handler with the shortcut, or as it is when FASTPATH is off."""
    if not settings.FASTPATH:
        return handler

    class OneHopHandler(handler):
        async def dispatch(self, scope, receive, send):
            # Django enters a ThreadSensitiveContext here (a new thread per request for the request
            # signals' receivers); they are cheap and run on asgiref's one shared thread instead.
            await self.handle(scope, receive, send)

        async def handle(self, scope, receive, send):
            answering = scope.get(ANSWERING)
            if answering is None:
                return await super().handle(scope, receive, send)
            await _answer(self, scope, receive, send, answering)

        def load_middleware(self, is_async=False):
            super().load_middleware(is_async=False)  # one synchronous chain, entered once per request

        def resolve_request(self, request):
            match = super().resolve_request(request)
            if not settings.DEBUG:
                match.tried = None
            return match

        async def respond(self, request):
            return await sync_to_async(self._respond_in_thread, thread_sensitive=False)(request)

        def _respond_in_thread(self, request):
            # A pool thread keeps its own database connections: the checks Django's request signals
            # make (unusable or older than CONN_MAX_AGE: closed) are made here, in the thread that owns them.
            close_old_connections()
            return self.get_response(request)

    return OneHopHandler


async def _answer(handler, scope, receive, send, answering: list) -> None:
    """Django's `ASGIHandler.handle`, with the request answered in this task (in `answering` while it
    runs, for the edge to cancel if the client goes away) instead of in a second one beside a third
    that listens for the disconnect."""
    try:
        body_file = await handler.read_body(receive)
    except RequestAborted:
        return
    set_script_prefix(get_script_prefix(scope))
    await signals.request_started.asend(sender=handler.__class__, scope=scope)
    request, error_response = handler.create_request(scope, body_file)
    if request is None:
        body_file.close()
        await handler.send_response(error_response, send)
        await sync_to_async(error_response.close)()
        return
    task = asyncio.current_task()
    answering.append(task)  # cancelled by the edge if the client goes away meanwhile
    response = None
    try:
        try:
            response = await handler.run_get_response(request)
        except asyncio.CancelledError:  # the client went away before its answer was ready
            task.uncancel()
            await signals.request_finished.asend(sender=handler.__class__)
            return
        try:
            await handler.send_response(response, send)
        except asyncio.CancelledError:  # ... or while it was being sent (as Django: ignored)
            task.uncancel()
    finally:
        if task in answering:
            answering.remove(task)
        body_file.close()
        if response is None:
            let_go(request)
    await sync_to_async(response.close)()
    let_go(request, response)


class FieldsBuiltOnce:
    """For serializers that only validate a request: the fields are built and bound once per class, to
    a prototype instance, and every instance validates with them (a request serializer's field keeps
    no state of one request: none of these reads `context`)."""

    @property
    def fields(self):
        if not settings.FASTPATH:  # DRF's own: every field copied and bound to this instance, once
            fields = self.__dict__.get("_fields_of_this_instance")
            if fields is None:
                fields = self._fields_of_this_instance = BindingDict(self)
                for name, field in self.get_fields().items():
                    fields[name] = field
            return fields
        cls = type(self)
        shared = cls.__dict__.get("_fields_built_once")
        if shared is None:
            prototype = cls.__new__(cls)
            serializers.Serializer.__init__(prototype)
            shared = BindingDict(prototype)
            for name, field in super(FieldsBuiltOnce, prototype).get_fields().items():
                shared[name] = field
            cls._fields_built_once = shared
        return shared
