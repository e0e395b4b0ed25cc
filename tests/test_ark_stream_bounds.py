"""Ark's event stream of a set, as a hostile upstream (or whoever answers in its place) may send it:
every line, item count and index is bounded; what is not understood is passed over; a stream cut short
hands on what came before it, and is an error the caller can tell."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from providers.ark import ArkProvider
from providers.base import GenerationRequest, Image, ItemError, UpstreamError


class _Upstream:
    """Answers every POST with the scripted status, content type and body."""

    def __init__(self):
        self.status, self.content_type, self.body = 200, "text/event-stream", b""
        self.parts = None  # or bytes and threading.Events: each part sent, each Event waited for (5 s at most)
        self.gates_opened: list[bool] = []  # for each Event: set in time (not timed out)
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(upstream.status)
                self.send_header("Content-Type", upstream.content_type)
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    for part in upstream.parts or [upstream.body]:
                        if isinstance(part, threading.Event):
                            upstream.gates_opened.append(part.wait(5))
                        else:
                            self.wfile.write(part)
                            self.wfile.flush()
                except OSError:
                    pass  # the client stopped reading: what a bound is for

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v3"


@pytest.fixture
def upstream(settings):
    server = _Upstream()
    settings.ARK_BASE_URL, settings.ARK_API_KEY, settings.ARK_ACCOUNTS = server.url, "k", []
    settings.ARK_READ_TIMEOUT_SECONDS = 5
    yield server
    server.server.shutdown()
    server.server.server_close()


def _event(kind: str, **fields) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode()


def _generate(**options):
    request = GenerationRequest(
        task_id="t1", model="doubao-seedream-4-0-250828", prompt="a set", width=2048, height=2048, options={"n": 4}
    )
    arrived = []
    try:
        return ArkProvider().generate(request, on_item=arrived.append), arrived
    except UpstreamError as error:
        return error, arrived


OK = "image_generation.partial_succeeded"


def test_a_well_formed_stream_with_noise_keeps_the_images_in_order(upstream):
    upstream.body = b"".join(
        [
            b": a comment\n\n",
            _event("image_generation.warming_up", note="an event type we do not know"),
            b"event: image_generation.partial_succeeded\ndata: {not json\n\n",
            _event(OK, image_index=0, url="https://cdn.example/0.png"),
            _event(OK, image_index=99, url="https://cdn.example/99.png"),  # outside a set: dropped
            _event(OK, image_index=True, url="https://cdn.example/t.png"),  # not an index: dropped
            _event(
                "image_generation.partial_failed",
                image_index=1,
                error={"code": "OutputImageSensitiveContentDetected", "message": "no"},
            ),
            _event(OK, image_index=2, b64_json="!!!not base64"),  # undecodable: dropped
            _event(OK, image_index=3, url="https://cdn.example/3.png"),
            _event("image_generation.completed", usage={"generated_images": 2}),
            b"data: [DONE]\n\n",
        ]
    )
    items, arrived = _generate()
    assert items == arrived  # each handed on as it came
    assert items == [
        Image(url="https://cdn.example/0.png", index=0),
        ItemError(index=1, code="OutputImageSensitiveContentDetected", message=items[1].message),
        Image(url="https://cdn.example/3.png", index=3),
    ]
    assert "moderation" in items[1].message


def test_each_image_is_handed_on_before_the_next_is_sent(upstream, settings):
    """A stream of small events (images by URL) and a slow upstream: the first image is kept while the
    second is still being made. (Read by `iter_content(65536)`, the events waited for 64 KB or the
    end: a set's images all arrived when it ended.)"""
    first_arrived = threading.Event()
    settings.ARK_READ_TIMEOUT_SECONDS = 20
    upstream.parts = [
        _event(OK, image_index=0, url="https://cdn.example/0.png"),
        first_arrived,  # the upstream goes on only once the client has the first image (or after 5 s)
        _event(OK, image_index=1, url="https://cdn.example/1.png"),
        b"data: [DONE]\n\n",
    ]
    request = GenerationRequest(
        task_id="t1", model="doubao-seedream-4-0-250828", prompt="a set", width=2048, height=2048, options={"n": 2}
    )
    items = ArkProvider().generate(request, on_item=lambda item: first_arrived.set())
    assert [item.index for item in items] == [0, 1]
    assert upstream.gates_opened == [True]  # the first image was in hand before the second was sent


def test_a_line_over_the_bound_is_refused_without_reading_on(upstream, settings):
    settings.IMAGE_DOWNLOAD_MAX_BYTES = 3000  # a line may hold one such image as base64: ~8 KB
    upstream.body = _event(OK, image_index=0, url="https://cdn.example/0.png") + b"data: " + b"x" * 5_000_000
    error, arrived = _generate()
    assert isinstance(error, UpstreamError) and error.code == "bad_output" and "size limit" in error.message
    assert [item.index for item in arrived] == [0]  # what came before it was handed on


def test_more_items_than_a_set_holds_are_refused(upstream):
    upstream.body = b"".join(_event(OK, image_index=n % 15, url=f"https://cdn.example/{n}.png") for n in range(40))
    error, arrived = _generate()
    assert isinstance(error, UpstreamError) and error.code == "bad_output"
    assert len(arrived) == 15


def test_a_stream_without_done_is_cut_short(upstream):
    upstream.body = _event(OK, image_index=0, url="https://cdn.example/0.png")
    error, arrived = _generate()
    assert isinstance(error, UpstreamError) and error.code == "stream_cut" and error.retryable and error.in_flight
    assert [item.index for item in arrived] == [0]


def test_an_error_event_and_an_error_before_the_stream_are_upstream_errors(upstream):
    upstream.body = b'event: error\ndata: {"error": {"code": "InternalServiceError", "message": "boom"}}\n\n'
    error, _ = _generate()
    assert isinstance(error, UpstreamError) and error.code == "InternalServiceError"

    upstream.status, upstream.content_type = 400, "application/json"
    upstream.body = json.dumps({"error": {"code": "InvalidParameter", "message": "max_images must be 1-15"}}).encode()
    error, _ = _generate()
    assert isinstance(error, UpstreamError) and error.code == "InvalidParameter" and "max_images" in error.message

    upstream.status, upstream.content_type, upstream.body = 200, "text/html", b"<html>a login page</html>"
    error, _ = _generate()
    assert isinstance(error, UpstreamError) and error.code == "http_200"  # not a stream, not JSON: refused


def test_every_item_failed_is_the_first_items_error(upstream):
    upstream.body = (
        _event(
            "image_generation.partial_failed",
            image_index=0,
            error={"code": "OutputImageSensitiveContentDetected", "message": "no"},
        )
        + b"data: [DONE]\n\n"
    )
    error, arrived = _generate()
    assert isinstance(error, UpstreamError) and error.code == "OutputImageSensitiveContentDetected"
    assert len(arrived) == 1
