"""The server's edge, against the web server as deployed (gunicorn with the project's uvicorn worker):
a 128 MB body — declared, or chunked — and a 40 MB header are refused before they are read, with the
web process's memory and the disk unchanged (within 5 MB) and /health answering others within a
second meanwhile; too many headers, or headers sent too slowly, are refused too (431, 408)."""

import socket
import threading
import time
from pathlib import Path

import pytest
import requests

MB = 1024 * 1024


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().split(")")[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return found


def _rss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def _disk(*folders: Path) -> int:
    return sum(path.stat().st_size for folder in folders for path in folder.rglob("*") if path.is_file())


def _attack(port: int, head: bytes, body_chunk: bytes = b"", total: int = 0) -> bytes:
    """Send `head`, then `total` bytes of body in chunks while reading the answer; the answer."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(20)

    def send():
        try:
            sock.sendall(head)
            sent = 0
            while sent < total:
                sock.sendall(body_chunk)
                sent += len(body_chunk)
        except OSError:
            pass  # refused and closed: what is expected

    sender = threading.Thread(target=send)
    sender.start()
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except OSError:
        pass
    sender.join(30)
    sock.close()
    return answer


def _health_times(stack, stop: threading.Event, times: list[float]):
    while not stop.is_set():
        started = time.monotonic()
        assert requests.get(stack.url("/health"), timeout=5).status_code == 200
        times.append(time.monotonic() - started)
        time.sleep(0.05)


@pytest.mark.stack
def test_huge_bodies_and_headers_are_refused_unread_while_others_are_served(make_stack, tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    stack = make_stack(env={"TMPDIR": str(spool)})
    stack.start(worker=False)
    workers = _children(stack.processes["web"].pid)
    assert workers
    requests.post(stack.url("/api/v1/ping"), json={"warm": True}, timeout=5)
    memory, disk = _rss(workers), _disk(spool, stack.data_dir)
    stop, times = threading.Event(), []
    watcher = threading.Thread(target=_health_times, args=(stack, stop, times))
    watcher.start()
    try:
        host = f"Host: 127.0.0.1:{stack.port}\r\n".encode()
        declared = _attack(
            stack.port,
            b"POST /api/v1/ping HTTP/1.1\r\n" + host + b"Content-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (128 * MB),
            b"x" * (64 * 1024),
            128 * MB,
        )
        chunk = b"x" * (64 * 1024)
        chunked = _attack(
            stack.port,
            b"POST /api/v1/ping HTTP/1.1\r\n" + host + b"Content-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
            b"%x\r\n" % len(chunk) + chunk + b"\r\n",
            128 * MB,
        )
        header = _attack(stack.port, b"GET /health HTTP/1.1\r\n" + host + b"X-Big: ", b"a" * (64 * 1024), 40 * MB)
        many = _attack(
            stack.port, b"GET /health HTTP/1.1\r\n" + host + b"".join(b"X-%d: 1\r\n" % n for n in range(150)) + b"\r\n"
        )
    finally:
        stop.set()
        watcher.join()
    assert declared.startswith(b"HTTP/1.1 413 "), declared[:200]
    assert b'"success": false' in declared and b"at most 262144 bytes" in declared
    assert chunked.startswith(b"HTTP/1.1 411 "), chunked[:200]
    assert header.startswith(b"HTTP/1.1 431 "), header[:200]
    assert many.startswith(b"HTTP/1.1 431 ") and b"at most 100 headers" in many, many[:200]
    assert _children(stack.processes["web"].pid) == workers  # no worker was killed or replaced
    assert abs(_rss(workers) - memory) < 5 * MB, (_rss(workers) - memory) / MB
    assert abs(_disk(spool, stack.data_dir) - disk) < 5 * MB
    assert times and max(times) < 1.0, max(times)


@pytest.mark.stack
def test_headers_sent_too_slowly_are_refused(make_stack):
    stack = make_stack(env={"HTTP_HEADER_TIMEOUT_SECONDS": "1"})
    stack.start(worker=False)
    sock = socket.create_connection(("127.0.0.1", stack.port))
    sock.settimeout(10)
    started = time.monotonic()
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # and then nothing more
    answer = sock.recv(4096)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert 0.9 < time.monotonic() - started < 5
    # A connection that sends its request in time is served as usual.
    assert requests.get(stack.url("/health"), timeout=5).status_code == 200


def test_a_declared_body_over_the_limit_is_refused_under_any_server():
    """The same rule in the middleware (Django's test client, a WSGI server): 413, 411, 400."""
    from django.test import Client

    client = Client()
    too_big = client.post("/api/v1/ping", data=b"{}", content_type="application/json", CONTENT_LENGTH=str(300 * 1024))
    assert too_big.status_code == 413 and too_big.json()["success"] is False
    digits = client.post("/api/v1/ping", data=b"{}", content_type="application/json", CONTENT_LENGTH="9" * 5000)
    assert digits.status_code == 413  # a number too long to convert is simply too large
    chunked = client.post("/api/v1/ping", data=b"{}", content_type="application/json", HTTP_TRANSFER_ENCODING="chunked")
    assert chunked.status_code == 411
