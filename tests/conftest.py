"""Shared fixtures: a real Redis server, and stacks of real web/worker processes."""

from __future__ import annotations

import itertools
import shutil
import subprocess

import pytest
import redis

from .stack import Stack, free_port, wait_for

_redis_db = itertools.count(1)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A private redis-server on a free loopback port (installed by `scripts/test-services`)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed; run the tests with `make test`, which installs it.")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(host="127.0.0.1", port=port)

    def answers():
        try:
            return client.ping()
        except redis.ConnectionError:
            return False

    wait_for(answers, timeout=10, what="redis-server")
    yield {"host": "127.0.0.1", "port": port, "process": process}
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server):
    """A Redis database of its own for one test (databases 1-15 in turn, flushed first)."""
    db = next(_redis_db) % 15 + 1
    redis.Redis(host=redis_server["host"], port=redis_server["port"], db=db).flushdb()
    return f"redis://{redis_server['host']}:{redis_server['port']}/{db}"


@pytest.fixture
def make_stack(tmp_path):
    stacks: list[Stack] = []

    def factory(*, broker_url: str = "filesystem://", env: dict | None = None, name: str = "stack") -> Stack:
        workdir = tmp_path / f"{name}{len(stacks)}"
        workdir.mkdir()
        stack = Stack(workdir, broker_url=broker_url, env=env)
        stacks.append(stack)
        return stack

    yield factory
    for stack in stacks:
        stack.stop()
