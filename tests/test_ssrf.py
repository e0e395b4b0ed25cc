"""Outbound requests to client-chosen URLs never reach loopback, private, link-local or metadata
addresses — not directly, not through a redirect — and are capped in size."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest
from rest_framework.test import APIClient

from jimeng_server.outbound import OutboundBlocked, fetch, url_check

BLOCKED = [
    "http://127.0.0.1/hook",
    "http://localhost:8000/hook",
    "http://10.1.2.3/hook",
    "http://172.16.5.4/hook",
    "http://172.31.255.1/hook",
    "http://192.168.1.10/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[fe80::1]/hook",
    "http://0.0.0.0/hook",
]


@pytest.fixture
def no_exemptions(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    settings.WEBHOOK_SECRET = "s"
    return settings


@pytest.mark.parametrize("url", BLOCKED)
def test_private_addresses_are_blocked(no_exemptions, url):
    with pytest.raises(OutboundBlocked, match="is not a public address"):
        url_check(url)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://x/"])
def test_only_http_and_https(no_exemptions, url):
    with pytest.raises(OutboundBlocked, match="only http and https URLs are allowed"):
        url_check(url)


def test_public_addresses_pass(no_exemptions):
    url_check("http://93.184.216.34/hook")
    url_check("https://[2606:2800:220:1:248:1893:25c8:1946]/hook")


@pytest.mark.django_db
@pytest.mark.parametrize("url", BLOCKED)
def test_create_refuses_a_private_webhook_url(no_exemptions, url):
    body = {"prompt": "a cat", "user_id": "u1", "webhook_url": url}
    response = APIClient().post("/api/v1/ai/image/task", body, format="json")
    assert response.status_code == 400
    assert response.json()["message"].startswith("webhook_url is not allowed: ")


@pytest.mark.django_db
def test_create_refuses_a_private_reference_image(no_exemptions):
    body = {
        "prompt": "a cat",
        "user_id": "u1",
        "model": "jimeng_t2i_v40",
        "size": "2048x2048",
        "image_urls": ["https://example.com/ok.png", "http://169.254.169.254/x.png"],
    }
    response = APIClient().post("/api/v1/ai/image/task", body, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == (
        "image_urls[1] is not allowed: 169.254.169.254 is not a public address (169.254.169.254): "
        "loopback, private, shared or reserved."
    )


class _Server:
    def __init__(self, handler):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def redirector():
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path == "/big":
                body = b"x" * 200_000
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.send_response(302)
            self.send_header("Location", unquote(self.path.removeprefix("/to/")))
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = _Server(Handler)
    yield server
    server.stop()


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://[::1]/"])
def test_a_redirect_to_a_private_address_is_not_followed(settings, redirector, target):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]  # the redirector itself may be reached
    with pytest.raises(OutboundBlocked, match="is not a public address"):
        fetch(f"{redirector.url}/to/{target}", max_bytes=1000, timeout=5)


def test_downloads_are_capped_in_size(settings, redirector):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with pytest.raises(OutboundBlocked, match="larger than 100000 bytes"):
        fetch(f"{redirector.url}/big", max_bytes=100_000, timeout=5)
    assert len(fetch(f"{redirector.url}/big", max_bytes=300_000, timeout=5).content) == 200_000
