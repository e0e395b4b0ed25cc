"""Webhook endpoints on loopback for tests and `make chaos`: one records every POST (`up` decides
between 200 and 503); one answers a byte at a time, for ever."""

import hashlib
import hmac
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def signature_valid(secret: str, headers: dict, body: bytes) -> bool:
    """What a receiver does to trust a delivery (the README's recipe)."""
    expected = hmac.new(
        secret.encode(), headers["X-Jimeng-Timestamp"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(headers["X-Jimeng-Signature"], f"sha256={expected}")


class WebhookReceiver:
    def __init__(self, *, up: bool = True):
        self.up = up
        self.received: list[tuple[dict, bytes, int]] = []  # (headers, body, status answered)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 200 if receiver.up else 503
                receiver.received.append((dict(self.headers), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/jimeng"

    def accepted(self) -> list[tuple[dict, bytes]]:
        return [(headers, body) for headers, body, status in self.received if status == 200]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TrickleReceiver:
    """Answers every POST with headers, then one byte every `every` seconds, for ever."""

    def __init__(self, every: float = 1.0):
        self.open = self.peak = self.requests = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.open += 1
                    receiver.requests += 1
                    receiver.peak = max(receiver.peak, receiver.open)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    for _ in range(100000):
                        self.wfile.write(b".")
                        self.wfile.flush()
                        # Wait for the next byte, but notice at once a client that hung up.
                        readable, _, _ = select.select([self.connection], [], [], every)
                        if readable and not self.connection.recv(1, socket.MSG_PEEK):
                            break
                except OSError:
                    pass
                finally:
                    with receiver.lock:
                        receiver.open -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slow"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
