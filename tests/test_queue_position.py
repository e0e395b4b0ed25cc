"""A task waiting for a free slot says where it stands (`queue_position`, 0 = next to start) and when it
should start (`eta_seconds`); both go once it runs."""

import time
from datetime import datetime

import pytest

from tests.conftest import skip_on_ferretdb, upstream_env

pytestmark = pytest.mark.stack


def _at(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@skip_on_ferretdb("atomic single-document updates: two workers' concurrent claims of one task can both succeed")
def test_40_tasks_behind_a_cap_of_4_know_their_place_and_when_they_start(make_stack, redis_url, fake_upstream):
    fake_upstream.config.latency = 3.0
    env = upstream_env(fake_upstream) | {"UPSTREAM_CONCURRENCY": "jimeng=4"}
    stack = make_stack(broker_url=redis_url, env=env).start(worker=False)
    # One worker process: the tasks take their first turns — and park in line — in the order they came.
    # (Two processes park two neighbours side by side, and either may come first: a place said before a
    # task's first turn is the first-come count, and it can move by one when its turn comes.)
    stack.start_worker("worker", concurrency=1)
    for task_id in [stack.create_task(prompt=f"warm-up {n}", model="jimeng_t2i_v30") for n in range(4)]:
        stack.wait_terminal(task_id, timeout=60)  # the server learns the model's time, as a running one has
    ids = [stack.create_task(prompt=f"line {n}", model="jimeng_t2i_v30") for n in range(40)]

    def answers() -> dict[str, tuple[float, dict]]:
        return {
            task_id: (
                time.time(),
                stack.session.get(stack.url(f"/api/v1/ai/image/result/{task_id}"), timeout=10).json()["data"],
            )
            for task_id in ids
        }

    deadline = time.monotonic() + 30
    while True:
        seen = answers()
        waiting = {task_id: (at, data) for task_id, (at, data) in seen.items() if "queue_position" in data}
        if len(waiting) == 36 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert sorted(data["queue_position"] for _, data in waiting.values()) == list(range(36))
    for _, data in seen.values():  # running ones carry neither
        assert ("queue_position" in data) == ("eta_seconds" in data) == (data["status"] == "pending")

    for task_id in ids:
        stack.wait_terminal(task_id, timeout=120)
    details = {
        task_id: stack.session.get(stack.url(f"/api/v1/tasks/{task_id}"), timeout=10).json()["data"] for task_id in ids
    }
    assert all(d["status"] == "completed" for d in details.values())
    for task_id, (asked_at, data) in waiting.items():
        position, eta = data["queue_position"], data["eta_seconds"]
        started_after = _at(details[task_id]["started_at"]) - asked_at
        assert abs(eta - started_after) <= 0.3 * started_after, (position, eta, started_after)
        for other_id, (_, other) in waiting.items():  # a later round never starts before an earlier one
            if other["queue_position"] // 4 > position // 4:
                assert details[other_id]["started_at"] >= details[task_id]["started_at"]
    result = stack.session.get(stack.url(f"/api/v1/tasks/{ids[-1]}"), timeout=10).json()["data"]
    assert "queue_position" not in result and "eta_seconds" not in result
