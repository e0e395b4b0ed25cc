"""Concurrency caps hold across worker processes; while a cap is full tasks wait in `pending` (never
failed for it); and nothing blocks while the upstream generates."""

import time

import pytest

from tests.conftest import skip_on_ferretdb, upstream_env

pytestmark = pytest.mark.stack


def _run(stack, count: int, *, timeout: float) -> list[dict]:
    ids = [stack.create_task(prompt=f"tile {n}", model="jimeng_t2i_v30", size="1328x1328") for n in range(count)]
    deadline = time.monotonic() + timeout
    return [stack.wait_terminal(task_id, timeout=max(1, deadline - time.monotonic())) for task_id in ids]


@skip_on_ferretdb("atomic single-document updates: two workers' concurrent claims of one task can both succeed")
def test_cap_of_4_holds_for_100_tasks_at_5s(make_stack, redis_url, fake_upstream):
    fake_upstream.config.latency = 5.0
    env = upstream_env(fake_upstream) | {"UPSTREAM_CONCURRENCY": "jimeng=4"}
    stack = make_stack(broker_url=redis_url, env=env).start(worker=False)
    stack.start_worker("worker_a", concurrency=2)
    stack.start_worker("worker_b", concurrency=2)  # two processes share one cap
    results = _run(stack, 100, timeout=400)
    assert [r["status"] for r in results].count("completed") == 100
    state = fake_upstream.state.snapshot()
    assert state["peak_concurrency"] <= 4
    assert state["peak_concurrency"] == 4  # and the cap is used, not just respected
    assert state["total_submissions"] == 100
    assert max(state["submissions"].values()) == 1


@skip_on_ferretdb(
    "the speed to keep 50 generations in flight from one 2-process worker (its SQLite backend answers each "
    "update in milliseconds); and atomic single-document updates"
)
def test_cap_of_64_lets_one_small_worker_drive_50_generations_at_once(make_stack, redis_url, fake_upstream):
    fake_upstream.config.latency = 5.0
    env = upstream_env(fake_upstream) | {"UPSTREAM_CONCURRENCY": "jimeng=64"}
    stack = make_stack(broker_url=redis_url, env=env).start(worker=False)
    stack.start_worker("worker", concurrency=2)
    results = _run(stack, 100, timeout=180)
    assert [r["status"] for r in results].count("completed") == 100
    state = fake_upstream.state.snapshot()
    assert 50 <= state["peak_concurrency"] <= 64
    assert state["total_submissions"] == 100


@skip_on_ferretdb("atomic single-document updates: concurrent conditional $inc on one counter lose updates")
def test_embedded_mode_cap_lives_in_the_database(make_stack, fake_upstream):
    fake_upstream.config.latency = 1.0
    # Beat runs the reconciler as it would in embedded mode: the filesystem broker hands a message
    # to one consumer and forgets it, so a wake-up two workers race for can be lost; the database
    # still says what is due and the reconciler sends it again.
    env = upstream_env(fake_upstream) | {
        "UPSTREAM_CONCURRENCY": "jimeng=2",
        "RECONCILE_INTERVAL_SECONDS": "1",
        "TASK_REQUEUE_AFTER_SECONDS": "3",
        "TASK_LEASE_SECONDS": "6",
    }
    stack = make_stack(broker_url="filesystem://", env=env).start(worker=False, beat=True)
    stack.start_worker("worker_a", concurrency=2)
    stack.start_worker("worker_b", concurrency=2)
    results = _run(stack, 10, timeout=120)
    assert [r["status"] for r in results].count("completed") == 10
    assert fake_upstream.state.snapshot()["peak_concurrency"] == 2
