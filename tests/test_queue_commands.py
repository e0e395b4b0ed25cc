"""The seed's queue commands: status, clear (asks), clear --force; clearing never loses a pending task."""

import re

import pytest

pytestmark = pytest.mark.stack


def _depth(stack) -> int:
    out = stack.manage("queue_status")
    return int(re.search(r"queue 'imagetasks': (\d+) message", out).group(1))


def test_clearing_the_queue_loses_no_pending_task(make_stack, redis_url):
    stack = make_stack(broker_url=redis_url, env={"TASK_REQUEUE_AFTER_SECONDS": "0"}).start(worker=False)
    ids = [stack.create_task(prompt=f"p{n}", size="512x512") for n in range(3)]
    assert "Broker (redis) queue 'imagetasks': 0 message(s) waiting" in stack.manage("queue_status")  # the outbox
    stack.manage("reconcile")  # no worker, so no outbox dispatcher: the reconciler sends them
    status = stack.manage("queue_status")
    assert "Broker (redis) queue 'imagetasks': 3 message(s) waiting" in status
    assert re.search(r"pending\s+image\s+3", status)

    with pytest.raises(RuntimeError, match="Nothing cleared"):
        stack.manage("queue_clear", input="n\n")
    assert _depth(stack) == 3

    out = stack.manage("queue_clear", "--force")
    assert "Removed 3 message(s)" in out
    assert "3 pending task(s) remain pending" in out
    assert _depth(stack) == 0

    assert "Re-enqueued 3 pending task(s)" in stack.manage("reconcile")
    assert _depth(stack) == 3
    stack.start_worker()
    assert [stack.wait_terminal(task_id)["status"] for task_id in ids] == ["completed"] * 3


def test_clear_with_cancel_pending(make_stack):
    stack = make_stack().start(worker=False)
    task_id = stack.create_task(prompt="p", size="512x512")
    out = stack.manage("queue_clear", "--force", "--cancel-pending")
    assert "Canceled 1 pending task(s)." in out
    assert stack.result(task_id)["status"] == "canceled"
    assert _depth(stack) == 0
