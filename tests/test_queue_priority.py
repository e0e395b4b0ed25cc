"""With Redis, a poll never waits behind a backlog of new tasks: process messages go out at a lower
priority, which kombu's redis transport keeps in a list of its own and serves after priority 0."""

import pytest
import redis

pytestmark = pytest.mark.stack

HIGH, LOW = "imagetasks", "imagetasks\x06\x166"


def test_new_tasks_queue_below_polls(make_stack, redis_url):
    env = {"LOCAL_PROVIDER_LATENCY_SECONDS": "60", "TASK_REQUEUE_AFTER_SECONDS": "0"}
    stack = make_stack(broker_url=redis_url, env=env).start(worker=False)
    for n in range(3):
        stack.create_task(prompt=f"p{n}", size="512x512")
    stack.manage("reconcile")  # no worker, so no outbox dispatcher: the reconciler sends them
    client = redis.Redis.from_url(redis_url)
    assert (client.llen(HIGH), client.llen(LOW)) == (0, 3)
    assert "queue 'imagetasks': 3 message(s) waiting" in stack.manage("queue_status")  # every priority counted
    stack.manage("queue_clear", "--force")  # clears every priority's list
    assert (client.llen(HIGH), client.llen(LOW)) == (0, 0)
