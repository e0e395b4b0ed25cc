"""The server's edge: what a request may be before anything reads it.

- Headers (`HttpProtocol`, the web server's HTTP protocol: uvicorn's httptools protocol, which has no
  bound of its own): the request line and headers together at most HTTP_MAX_HEADER_BYTES (431), at
  most HTTP_MAX_HEADERS of them (431), all of them sent within HTTP_HEADER_TIMEOUT_SECONDS of the
  request's first byte (408). The connection is closed after each refusal.
- Connections: one carries at most HTTP_KEEPALIVE_REQUESTS requests; the answer to the last says
  `connection: close`. A web process accepts every connection waiting when it looks (uvicorn's loop),
  so a few clients connecting at once — a proxy's pool, a load generator — may all land on one process
  while the other idles, for as long as they stay connected; their reconnections land on whichever
  process looks first, the idle one.
- Bodies (`body_refusal`, asked by the ASGI handler before it reads a byte of the body, and by a
  middleware under any other server): a declared Content-Length over the path's limit is a 413, a
  chunked body a 411 — refused without reading, so nothing is spooled to memory or disk.
- Clients that go away: a handler that puts its task in the scope's `ANSWERING` list has it cancelled
  the moment its client disconnects mid-answer (jimeng_server/fastpath.py: instead of a second task
  per request listening for the disconnect).

`UvicornWorker` is gunicorn's uvicorn worker with this protocol and a garbage-collection pacer
(jimeng_server/garbage.py): the Procfile runs it."""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker as _UvicornWorker

from . import garbage
from .numbers import digits_int

# The scope's list of the tasks answering this connection's requests (see the module's doc).
ANSWERING = "jimeng.answering"

# Multipart requests that carry images: their own, larger limit.
UPLOAD_PATHS = frozenset({"/v1/images/edits", "/v1/videos"})


def is_admin_path(path: str) -> bool:
    """Whether a request's path is the admin's (under ADMIN_URL)."""
    from django.conf import settings

    return path.startswith("/" + settings.ADMIN_URL)


def body_limit(path: str) -> int:
    from django.conf import settings

    if path in UPLOAD_PATHS or is_admin_path(path):
        return settings.UPLOAD_MAX_REQUEST_BYTES
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def body_refusal(path: str, content_length: str | None, transfer_encoding: str | None) -> tuple[int, str] | None:
    """(status, message) when a request's body must be refused before it is read; None when it may be
    read (its declared length is within the limit, so nothing past the limit is ever read)."""
    if transfer_encoding and "chunked" in transfer_encoding.lower():
        return 411, "Send the request body with a Content-Length header (chunked bodies are not accepted)."
    try:
        length = digits_int((content_length or "0").strip())
    except ValueError:
        return 400, "Content-Length must be a number of bytes."
    limit = body_limit(path)
    if limit and length > limit:
        return 413, f"Request body too large: at most {limit} bytes."
    return None


def refusal_bytes(status: int, message: str) -> bytes:
    return json.dumps({"success": False, "message": message}, ensure_ascii=False).encode()


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounds on what arrives before the request is complete: the
    bytes and number of its headers, and the time to send them."""

    # Ours in slots: uvicorn's own 27 attributes keep the instance dict a shared-key one (at most 30
    # keys), which ours would turn into a combined one, ~1.5 KB more for every open connection.
    __slots__ = (
        "answering",
        "header_bytes",
        "header_count",
        "header_count_limit",
        "header_deadline",
        "header_limit",
        "header_timeout",
        "in_headers",
        "refusal",
        "requests_left",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from django.conf import settings

        self.header_limit = settings.HTTP_MAX_HEADER_BYTES
        self.header_count_limit = settings.HTTP_MAX_HEADERS
        self.header_timeout = settings.HTTP_HEADER_TIMEOUT_SECONDS
        self.header_bytes = 0
        self.header_count = 0
        self.in_headers = True  # until the current request's headers are complete
        self.header_deadline = None
        self.refusal: tuple[int, str] | None = None
        self.answering: list = []
        self.requests_left = settings.HTTP_KEEPALIVE_REQUESTS or -1  # -1: no bound

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        if self.header_deadline is None and self.header_timeout:
            self.header_deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
            self.header_deadline = None

    def _refuse(self, status: int, message: str) -> None:
        self._disarm()
        if self.transport.is_closing():
            return
        body = refusal_bytes(status, message)
        reason = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
        self.transport.write(head % (status, reason, len(body)) + body)
        self.transport.close()

    def _too_slow(self) -> None:
        self.header_deadline = None
        if self.in_headers and (self.cycle is None or self.cycle.response_complete):
            self._refuse(408, f"The request's headers did not arrive within {self.header_timeout:g} s.")

    def data_received(self, data: bytes) -> None:
        if self.in_headers:  # counted up to the blank line that ends them (the body is not theirs)
            end = data.find(b"\r\n\r\n")
            self.header_bytes += len(data) if end < 0 else end + 4
            if self.header_bytes > self.header_limit:
                self._refuse(431, f"The request line and headers may take at most {self.header_limit} bytes.")
                return
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request its parser stopped: ours when one of our bounds stopped it."""
        if self.refusal is not None:
            self._refuse(*self.refusal)
        else:
            super().send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[ANSWERING] = self.answering
        self.in_headers, self.header_count, self.refusal = True, 0, None
        self._arm()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_count += 1
        if self.header_count > self.header_count_limit:
            self.refusal = (431, f"A request may carry at most {self.header_count_limit} headers.")
            raise ValueError(self.refusal[1])  # stops the parser: send_400_response answers with it
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.in_headers = False
        self._disarm()
        super().on_headers_complete()
        self.requests_left -= 1
        if self.requests_left == 0 and self.cycle is not None:
            self.cycle.keep_alive = False  # this answer says connection: close, and the connection closes

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.header_bytes, self.in_headers = 0, True  # what arrives next is the next request's headers

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)
        for task in self.answering:  # what their clients will never read: stopped now
            task.cancel()
        self.answering.clear()


class UvicornWorker(_UvicornWorker):
    """gunicorn's uvicorn worker, speaking HTTP through `HttpProtocol`, its garbage collected on the
    clock while it serves (jimeng_server/garbage.py)."""

    CONFIG_KWARGS = {"loop": "auto", "http": "jimeng_server.edge:HttpProtocol"}

    async def _serve(self) -> None:
        pacer = garbage.Pacer(asyncio.get_running_loop())
        try:
            await super()._serve()
        finally:
            pacer.stop()
