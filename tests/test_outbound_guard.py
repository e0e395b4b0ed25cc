"""The outbound guard: one reading of a URL, the checked address is the one connected to, only
globally routable unicast (IPv6 forms carrying an IPv4 address unwrapped), one deadline over the
whole exchange, and upstream image downloads through the same gate."""

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from imagetasks.storage import outputs_store
from jimeng_server.outbound import OutboundBlocked, OutboundError, fetch, url_check
from providers.base import Image, UpstreamError

# Read one way by a checker and another by a client, or by different clients differently.
AMBIGUOUS = [
    "http://public.example@127.0.0.1/hook",
    "http://public.example:80@127.0.0.1/hook",
    "http://127.0.0.1\\@public.example/hook",
    "http://public.example\\@127.0.0.1/hook",
    "http://public.example\t@127.0.0.1/hook",
    "http://127.0.0.1 .public.example/hook",
    "http://%31%32%37.0.0.1/hook",
    "http://public%2eexample/hook",
    "http://localhost./hook",
    "http://127.0.0.1./hook",
    "http://127.1/hook",
    "http://0x7f.0.0.1/hook",
    "http://2130706433/hook",
    "http://017700000001/hook",
    "http://public.example\r\nHost: 127.0.0.1/hook",
    "http://[::1/hook",
    "http://public.example:99999/hook",
]

# Not globally routable unicast, in every spelling that reaches it.
NOT_PUBLIC = [
    "http://100.64.0.1/",
    "http://100.100.100.200/latest/meta-data/",
    "http://100.96.0.96/",
    "http://198.18.0.1/",
    "http://192.0.0.170/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://[2002:7f00:1::1]/",  # 6to4 around 127.0.0.1
    "http://[2002:a9fe:a9fe::1]/",  # 6to4 around 169.254.169.254
    "http://[64:ff9b::7f00:1]/",  # NAT64 around 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 around 169.254.169.254
    "http://[64:ff9b:1::1]/",  # local-use NAT64
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",  # Teredo
    "http://[::127.0.0.1]/",  # IPv4-compatible
    "http://[::ffff:10.0.0.1]/",  # IPv4-mapped
    "http://[fc00::1]/",
    "http://[ff02::1]/",
    "http://[2001:db8::1]/",
]


@pytest.fixture
def no_exemptions(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    return settings


@pytest.mark.parametrize("url", AMBIGUOUS)
def test_authorities_read_differently_are_refused(no_exemptions, url):
    with pytest.raises(OutboundBlocked):
        url_check(url, must_resolve=False)


@pytest.mark.parametrize("url", NOT_PUBLIC)
def test_only_globally_routable_unicast_is_allowed(no_exemptions, url):
    with pytest.raises(OutboundBlocked, match="is not a public address"):
        url_check(url)


@pytest.mark.parametrize(
    "url",
    ["http://93.184.216.34/", "http://[2606:4700::1]/", "http://[2002:5db8:d822::1]/", "http://[64:ff9b::808:808]/"],
)
def test_public_addresses_and_their_ipv6_wrappings_pass(no_exemptions, url):
    url_check(url)


def test_an_exempt_network_is_the_one_exception(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["100.64.0.0/10"]
    url_check("http://100.100.100.200/")
    with pytest.raises(OutboundBlocked):
        url_check("http://127.0.0.1/")


class _Server:
    def __init__(self, handler, host="127.0.0.1"):
        self.hits: list[dict] = []
        server = self

        class Recording(handler):
            def log_message(self, *args):
                pass

            def _record(self):
                server.hits.append({"path": self.path, "host": self.headers.get("Host")})

        self.server = ThreadingHTTPServer((host, 0), Recording)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self):
        self._record()
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_POST = do_GET


def test_the_checked_address_is_the_one_connected_to(settings, monkeypatch):
    """DNS rebinding: the name resolves to an allowed address when checked, to a forbidden one
    afterwards. The request goes to the checked address, with the name in Host."""
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.2/32"]  # stands for a public receiver
    allowed, forbidden = _Server(_Ok, "127.0.0.2"), _Server(_Ok, "127.0.0.1")
    answers = iter(["127.0.0.2", "127.0.0.1", "127.0.0.1"])
    looked_up = []

    def rebinding(host, port, *args, **kwargs):
        looked_up.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    try:
        answer = fetch(f"http://hooks.example:{allowed.port}/in", method="POST", data=b"{}", max_bytes=100, timeout=5)
    finally:
        allowed.stop()
        forbidden.stop()
    assert answer.status_code == 200 and answer.content == b"ok"
    assert looked_up == ["hooks.example"]  # resolved once
    assert allowed.hits == [{"path": "/in", "host": f"hooks.example:{allowed.port}"}]
    assert forbidden.hits == []


class _Redirect(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self):
        self._record()
        self.send_response(302)
        self.send_header("Location", type(self).target)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_a_redirect_that_hides_loopback_in_userinfo_is_not_followed(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    victim = _Server(_Ok, "127.0.0.1")
    _Redirect.target = f"http://127.0.0.2@127.0.0.1:{victim.port}/admin"
    redirector = _Server(_Redirect, "127.0.0.2")
    try:
        with pytest.raises(OutboundBlocked):
            fetch(f"{redirector.url}/start", max_bytes=100, timeout=5)
    finally:
        redirector.stop()
        victim.stop()
    assert victim.hits == []


class _Trickle(BaseHTTPRequestHandler):
    def do_POST(self):
        self._record()
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        for _ in range(1000):
            self.wfile.write(b"x")
            self.wfile.flush()
            time.sleep(0.3)


def test_one_deadline_bounds_a_peer_that_trickles(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    server = _Server(_Trickle)
    started = time.monotonic()
    try:
        with pytest.raises(OutboundError, match="timed out"):
            fetch(server.url + "/", method="POST", data=b"{}", max_bytes=4096, timeout=1.5)
    finally:
        elapsed = time.monotonic() - started
        server.stop()
    # Each byte arrives well within any per-read timeout, and the peer would go on for 300 s: only a deadline
    # over the whole exchange ends it this soon (the bound is loose: a loaded machine runs timers late).
    assert elapsed < 10


class _Large(BaseHTTPRequestHandler):
    def do_POST(self):
        self._record()
        self.send_response(200)
        self.send_header("Content-Length", str(20 * 1024 * 1024))
        self.end_headers()
        try:
            for _ in range(20 * 1024):
                self.wfile.write(b"y" * 1024)
        except OSError:
            pass


def test_a_large_answer_can_be_cut_short(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    server = _Server(_Large)
    try:
        answer = fetch(server.url + "/", method="POST", data=b"{}", max_bytes=4096, truncate=True, timeout=5)
        with pytest.raises(OutboundBlocked, match="larger than 4096 bytes"):
            fetch(server.url + "/", method="POST", data=b"{}", max_bytes=4096, timeout=5)
    finally:
        server.stop()
    assert answer.status_code == 200 and len(answer.content) == 4096


def test_upstream_image_downloads_go_through_the_guard(settings):
    """An upstream (or whoever answers for it) naming an internal address gets no request from us."""
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    victim = _Server(_Ok)
    try:
        with pytest.raises(UpstreamError, match=r"not downloaded: 127\.0\.0\.1 is not a public address") as caught:
            outputs_store(task_id="t1", attempt=1, images=[Image(url=f"{victim.url}/internal.png")])
    finally:
        victim.stop()
    assert not caught.value.retryable
    assert victim.hits == []
