"""Every shortcut past Django's and DRF's own machinery in the project package, in one place, behind
FASTPATH (`off`: the plain framework path, which gives the same answers — tests/test_fastpath.py).
Each is measured by `make bench`'s shortcut figures; one that no longer earns its place is removed.

- `asgi_handler`: the whole middleware chain and the view in one hop to a thread of a small pool, as
  under WSGI, instead of Django's hop per synchronous middleware and a new thread per request for the
  request signals (its ThreadSensitiveContext).
- `FieldsBuiltOnce`: request serializers that only validate build and bind their fields once per
  class, instead of DRF's deep copy of every declared field for every request (~0.3 ms of a create)."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from rest_framework import serializers
from rest_framework.utils.serializer_helpers import BindingDict


def asgi_handler(handler: type) -> type:
    """The project's ASGI handler with the shortcut, or as it is when FASTPATH is off."""
    if not settings.FASTPATH:
        return handler

    class OneHopHandler(handler):
        async def dispatch(self, scope, receive, send):
            # Django enters a ThreadSensitiveContext here (a new thread per request for the request
            # signals' receivers); they are cheap and run on asgiref's one shared thread instead.
            await self.handle(scope, receive, send)

        def load_middleware(self, is_async=False):
            super().load_middleware(is_async=False)  # one synchronous chain, entered once per request

        async def respond(self, request):
            return await sync_to_async(self._respond_in_thread, thread_sensitive=False)(request)

        def _respond_in_thread(self, request):
            # A pool thread keeps its own database connections: the checks Django's request signals
            # make (unusable or older than CONN_MAX_AGE: closed) are made here, in the thread that owns them.
            close_old_connections()
            return self.get_response(request)

    return OneHopHandler


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
