"""Waiting costs no thread: many more clients wait (long-poll and SSE) than the web server has
threads, and /health, creates and polls still answer; a client that goes away frees what it held
within 2 s (the `jimeng_waiting_clients` gauge says what is held). With Redis and in embedded mode."""

import re
import socket
import time

import pytest

from .stack import wait_for


def _waiting(stack) -> float:
    text = stack.session.get(stack.url("/metrics"), timeout=10).text
    match = re.search(r"^jimeng_waiting_clients(?:\{[^}]*\})? ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _open_wait(stack, path: str, headers: dict) -> socket.socket:
    """A raw client, so that the test decides when it goes away (and it does not read the answer)."""
    connection = socket.create_connection(("127.0.0.1", stack.port), timeout=10)
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{stack.port}", *(f"{k}: {v}" for k, v in headers.items())]
    connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return connection


@pytest.mark.parametrize("mode", ["redis", "embedded"])
def test_waiters_beyond_the_thread_pool_leave_the_api_answering(make_stack, redis_url, mode):
    stack = make_stack(broker_url=redis_url if mode == "redis" else "filesystem://")
    stack.start(worker=False, web_workers=1)  # no worker: the tasks stay pending, their waiters wait
    tasks = [stack.create_task(prompt=f"wait {n}") for n in range(4)]
    count = 60 if mode == "redis" else 24  # one process, a pool of a few threads
    clients = []
    for n in range(count):
        task_id = tasks[n % len(tasks)]
        if n % 2:
            clients.append(_open_wait(stack, f"/api/v1/tasks/{task_id}/events", {"Accept": "text/event-stream"}))
        else:
            clients.append(_open_wait(stack, f"/api/v1/ai/image/result/{task_id}", {"Prefer": "wait=60"}))
    try:
        wait_for(lambda: _waiting(stack) == count, timeout=20, what=f"{count} waiting clients")
        # Everything else still answers (a server that gave each waiter a thread would not, for a minute).
        assert stack.session.get(stack.url("/health"), timeout=10).status_code == 200
        new_task = stack.create_task(prompt="while many wait")
        answer = stack.session.get(stack.url(f"/api/v1/ai/image/result/{new_task}"), timeout=10)
        assert answer.json()["data"]["status"] == "pending"
    finally:
        for client in clients:
            client.close()
    closed_at = time.monotonic()
    wait_for(lambda: _waiting(stack) == 0, timeout=5, interval=0.05, what="the waits freed")
    assert time.monotonic() - closed_at < 2.5
