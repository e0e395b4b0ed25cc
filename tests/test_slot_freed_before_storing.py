"""A generation's concurrency slot is given back when the upstream's work is done, before its outputs
are downloaded and stored (the store step, on the I/O queue): the next task waiting for the slot starts
while the first one's images are still on their way — and the slot is not given a second time when
that task then completes."""

import time

import pytest

from imagetasks import services
from imagetasks.capacity import capacity
from imagetasks.models import ImageTask, Status
from tests.create import create_task

pytestmark = pytest.mark.django_db


def _until_store(task_id: str, step):
    while step.action == "poll":  # the fake generates for a moment
        time.sleep(0.05)
        step = services.task_poll(task_id=task_id, seq=step.seq)
    assert step.action == "store"
    return step


def test_the_next_task_starts_while_the_first_ones_outputs_are_stored(
    jimeng_cap_of_one, sent, django_capture_on_commit_callbacks
):
    first, second, third = (create_task(user_id="u1", prompt=f"tile {n}", model="jimeng_t2i_v30").id for n in range(3))
    with django_capture_on_commit_callbacks(execute=True):
        step = services.task_process(task_id=first)
        assert services.task_process(task_id=second) is None  # the cap is full: parked
        assert services.task_process(task_id=third) is None
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        store = _until_store(first, step)
    assert capacity().in_use("jimeng") == 0  # given back: the first task's outputs are not stored yet
    assert ImageTask.objects.get(pk=first).status == Status.PROCESSING
    assert [args[0] for kind, args, _ in sent if kind == "process"] == [second]  # woken, and only it
    with django_capture_on_commit_callbacks(execute=True):
        assert services.task_process(task_id=second).action == "poll"  # started: it holds the slot
        sent.clear()
        assert services.task_store(task_id=first, seq=store.seq, payload=store.payload) is None
    assert ImageTask.objects.get(pk=first).status == Status.COMPLETED
    assert capacity().in_use("jimeng") == 1  # the second's: the first's end gave nothing back twice
    assert not [args for kind, args, _ in sent if kind == "process"]  # and woke nobody
    assert ImageTask.objects.get(pk=third).waiting_since is not None
