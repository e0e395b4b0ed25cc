"""A connection carries at most HTTP_KEEPALIVE_REQUESTS requests (jimeng_server/edge.py): the answer to
the last says `connection: close` and the server closes it, so a client reconnects — to whichever web
process accepts first. 0 lifts the bound. Against the web server as deployed (gunicorn with the
project's uvicorn worker), over a raw socket."""

import socket

import pytest

REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _answer(sock: socket.socket, buffered: bytes) -> tuple[bytes, bytes]:
    """One answer's head (lowercased), reading its body by Content-Length; and what follows it."""
    data = buffered
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before an answer: {data!r}"
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    head = head.lower()
    length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.startswith(b"content-length:")))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed within a body"
        rest += chunk
    return head, rest[length:]


def _serve(port: int, count: int) -> tuple[list[bytes], bool]:
    """`count` requests one after another on one connection: their answers' heads, and whether the
    server closed the connection after the last (read once the last answer said it would)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(10)
    heads, rest = [], b""
    try:
        for _ in range(count):
            sock.sendall(REQUEST)
            head, rest = _answer(sock, rest)
            heads.append(head)
        closed = b"connection: close" in heads[-1] and sock.recv(1) == b""
        return heads, closed
    finally:
        sock.close()


@pytest.mark.stack
def test_a_connection_is_closed_after_its_last_allowed_request(make_stack):
    stack = make_stack(env={"HTTP_KEEPALIVE_REQUESTS": "3"})
    stack.start(worker=False)
    heads, closed = _serve(stack.port, 3)
    assert [head.split(b"\r\n")[0] for head in heads] == [b"http/1.1 200 ok"] * 3
    assert [b"connection: close" in head for head in heads] == [False, False, True]
    assert closed
    # A new connection starts a new count.
    heads, _ = _serve(stack.port, 2)
    assert not any(b"connection: close" in head for head in heads)


@pytest.mark.stack
def test_no_bound_when_set_to_zero(make_stack):
    stack = make_stack(env={"HTTP_KEEPALIVE_REQUESTS": "0"})
    stack.start(worker=False)
    heads, closed = _serve(stack.port, 120)  # past the default bound of 20
    assert len(heads) == 120 and not any(b"connection: close" in head for head in heads)
    assert not closed
