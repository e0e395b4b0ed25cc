"""The celery CLI the README documents works against the project: inspect a running worker, purge the
queue (and the reconciler brings purged pending tasks back)."""

import subprocess
import sys

import pytest
import redis

from tests.stack import ROOT

pytestmark = pytest.mark.stack


def _celery(stack, *args) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "jimeng_server", *args],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_inspect_and_purge(make_stack, redis_url):
    env = {"LOCAL_PROVIDER_LATENCY_SECONDS": "30", "TASK_REQUEUE_AFTER_SECONDS": "0"}
    stack = make_stack(broker_url=redis_url, env=env).start(worker=False)
    for n in range(3):
        stack.create_task(prompt=f"p{n}", size="512x512")
    client = redis.Redis.from_url(redis_url)
    assert client.llen("imagetasks\x06\x166") == 0  # in the outbox: a worker's dispatcher sends them
    stack.manage("reconcile")  # with no worker at all, the reconciler does
    assert client.llen("imagetasks\x06\x166") == 3

    assert "Purged 3 messages" in _celery(stack, "purge", "-f", "-Q", "imagetasks")
    assert client.llen("imagetasks\x06\x166") == 0
    stack.manage("reconcile")  # the database still says pending: the wake-ups are sent again
    assert client.llen("imagetasks\x06\x166") == 3

    stack.start_worker()
    assert "pong" in _celery(stack, "inspect", "ping", "--timeout", "5")
    assert "imagetasks.process" in _celery(stack, "inspect", "registered", "--timeout", "5")
