"""P6's clients: many raw HTTP/1.1 connections in one event loop, each waiting on a task — by
long-poll (`Prefer: wait=N`, asked again until the task ends) or by SSE — and noting when the
terminal status reached it."""

from __future__ import annotations

import asyncio
import json
import time

TERMINAL = {"completed", "failed", "canceled"}


async def _request(host: str, port: int, path: str, headers: dict, sent: asyncio.Event | None = None):
    reader, writer = await asyncio.open_connection(host, port)
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", *(f"{k}: {v}" for k, v in headers.items())]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    if sent is not None:
        sent.set()
    status_line = await reader.readline()
    response_headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        response_headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), response_headers, reader, writer


async def _body(headers: dict, reader) -> bytes:
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    chunks = []
    while (size := int((await reader.readline()).strip(), 16)) > 0:
        chunks.append(await reader.readexactly(size))
        await reader.readline()
    return b"".join(chunks)


async def long_poll(host: str, port: int, task_id: str, opened: asyncio.Event) -> float:
    """Ask with `Prefer: wait=60` until the task is terminal; the time its answer came."""
    while True:
        _code, headers, reader, writer = await _request(
            host, port, f"/api/v1/ai/image/result/{task_id}", {"Prefer": "wait=60"}, opened
        )
        try:
            answer = json.loads(await _body(headers, reader))
            if "data" not in answer:
                raise RuntimeError(f"the long-poll of {task_id} was answered {_code}: {answer}")
            data = answer["data"]
        finally:
            writer.close()
        if data["status"] in TERMINAL:
            return time.time()


async def sse(host: str, port: int, task_id: str, opened: asyncio.Event) -> float:
    """Follow the task's event stream — opened again when the server ends it (its longest stream), as an
    EventSource does; the time the terminal status came."""
    while True:
        _code, _headers, reader, writer = await _request(
            host, port, f"/api/v1/tasks/{task_id}/events", {"Accept": "text/event-stream"}, opened
        )
        try:
            while line := await reader.readline():
                if line.startswith(b"data: ") and b'"status"' in line:
                    if json.loads(line[6:]).get("status") in TERMINAL:
                        return time.time()
        finally:
            writer.close()
