"""A submit that timed out on our side may still have been accepted upstream, which then generates
anyway. Its concurrency slot stays taken for CAPACITY_IN_FLIGHT_HOLD_SECONDS (and the task's next
attempt waits as long), so the cap also counts a generation we lost sight of."""

import time

import pytest

from imagetasks import services
from imagetasks.models import ImageTask, Status
from tests.create import create_task
from tests.fakes.upstream import Fault

pytestmark = pytest.mark.django_db

HOLD = 2.0


@pytest.fixture(params=["redis", "database"])
def capped(request, upstream_settings, fake_upstream):
    """Cap 1 on Jimeng; submits of prompts with "slow" answer after the client's timeout."""
    settings = upstream_settings
    if request.param == "redis":
        settings.CAPACITY_REDIS_URL = request.getfixturevalue("redis_url")
    else:  # embedded mode: counter rows in the database
        settings.CAPACITY_REDIS_URL = ""
        settings.CELERY_BROKER_URL = "filesystem://"
    settings.UPSTREAM_CONCURRENCY = {"jimeng": 1}
    settings.VOLCENGINE_READ_TIMEOUT_SECONDS = 0.5
    settings.CAPACITY_IN_FLIGHT_HOLD_SECONDS = HOLD
    settings.TASK_REQUEUE_AFTER_SECONDS = 1
    fake_upstream.config.latency = 1.0
    fake_upstream.config.faults = [Fault(api="submit", kind="slow", delay=1.0, prompt_contains="slow")]
    return request.param


def _new(prompt: str) -> ImageTask:
    return create_task(user_id="user_123", prompt=prompt, model="jimeng_t2i_v30", size="1328x1328")


def test_a_timed_out_submit_keeps_its_slot_while_the_upstream_may_generate(capped, fake_upstream):
    slow = _new("a slow cat")
    step = services.task_process(task_id=slow.id)
    slow.refresh_from_db()
    assert (slow.status, slow.error_code) == (Status.PENDING, "timeout")
    assert step.action == "process" and step.delay >= HOLD  # the retry waits out the hold too

    other = _new("a quick dog")
    assert services.task_process(task_id=other.id) is None  # waiting for the slot, not submitted
    assert ImageTask.objects.get(pk=other.id).waiting_since

    # The upstream did accept the slow submit after our client gave up: the hold was not for nothing.
    deadline = time.monotonic() + 5
    while fake_upstream.state.snapshot()["submissions"].get("a slow cat", 0) < 1:
        assert time.monotonic() < deadline, "the slow submit never reached the fake"
        time.sleep(0.1)
    assert "a quick dog" not in fake_upstream.state.snapshot()["submissions"]

    time.sleep(HOLD + 0.2)
    # The hold ends silently (Redis: the slot expires; embedded: the reconciler gives it back), and
    # the reconciler wakes the task waiting for it.
    report = services.tasks_reconcile()
    assert (report["released"], report["woken"]) == ((1, 1) if capped == "database" else (0, 1))
    assert services.task_process(task_id=other.id) is not None
    other = ImageTask.objects.get(pk=other.id)
    assert other.status == Status.PROCESSING and other.upstream_task_id
    assert fake_upstream.state.snapshot()["peak_concurrency"] == 1
