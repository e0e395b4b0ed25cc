"""Recovery at small scale (`make chaos` measures the same at scale): a worker killed with SIGKILL
and a Redis that forgets everything lose no task and submit none twice."""

import time

import pytest
import redis

from tests.conftest import skip_on_ferretdb, upstream_env
from tests.stack import RedisServer

pytestmark = [
    pytest.mark.stack,
    skip_on_ferretdb("atomic single-document updates: a re-sent wake-up and its original can both claim the task"),
]
FAST = {
    "RECONCILE_INTERVAL_SECONDS": "1",
    "TASK_REQUEUE_AFTER_SECONDS": "3",
    "TASK_LEASE_SECONDS": "6",
    "TASK_RETRY_BACKOFF_SECONDS": "0.5",
}


def _create(stack, count, prefix):
    return [stack.create_task(prompt=f"{prefix} {n}", model="jimeng_t2i_v30", size="1328x1328") for n in range(count)]


def test_worker_killed_mid_run(make_stack, redis_url, fake_upstream):
    fake_upstream.config.latency = 3
    stack = make_stack(broker_url=redis_url, env=upstream_env(fake_upstream) | FAST).start(beat=True)
    ids = _create(stack, 12, "killed")
    time.sleep(1.5)
    stack.kill_group("worker")  # kill -9, pool and all
    stack.stop_process("worker")
    stack.start_worker()
    assert [stack.wait_terminal(task_id, timeout=90)["status"] for task_id in ids] == ["completed"] * 12
    assert fake_upstream.state.snapshot()["submissions"] == {f"killed {n}": 1 for n in range(12)}


def test_redis_flushed_mid_run(make_stack, redis_server, redis_url, fake_upstream):
    fake_upstream.config.latency = 2
    stack = make_stack(broker_url=redis_url, env=upstream_env(fake_upstream) | FAST).start(beat=True)
    ids = _create(stack, 12, "flushed")
    time.sleep(0.5)
    db = int(redis_url.rsplit("/", 1)[1])
    redis.Redis(host=redis_server["host"], port=redis_server["port"], db=db).flushdb()  # queue, countdowns, caps
    assert [stack.wait_terminal(task_id, timeout=90)["status"] for task_id in ids] == ["completed"] * 12
    assert max(fake_upstream.state.snapshot()["submissions"].values()) == 1


def test_redis_restarted_mid_run(make_stack, tmp_path, fake_upstream):
    """The worker lives through its broker going away and coming back empty (celery 5.7.0's worker
    exited here: pinned to 5.6.3), and the reconciler re-sends what the restart forgot."""
    fake_upstream.config.latency = 2
    server = RedisServer(tmp_path).start()
    try:
        stack = make_stack(broker_url=server.url, env=upstream_env(fake_upstream) | FAST).start(beat=True)
        ids = _create(stack, 16, "restarted")
        time.sleep(1)  # wake-ups, polls and countdowns in flight
        server.stop()
        time.sleep(2)
        server.start()
        assert [stack.wait_terminal(task_id, timeout=90)["status"] for task_id in ids] == ["completed"] * 16
        assert stack.processes["worker"].poll() is None, stack.log("worker")[-3000:]
        assert max(fake_upstream.state.snapshot()["submissions"].values()) == 1
    finally:
        server.stop()
