"""The worker process whose poll finds a generation done and gives its slot back starts the task woken
for that slot itself, right after the poll — no message for it, which would wait behind the due polls
the worker holds when a round of generations ends together. Its row says it is due all along: a start
that fails there is sent again by the reconciler."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from imagetasks import services, tasks
from imagetasks.models import ImageTask, Status
from tests.create import create_task

pytestmark = pytest.mark.django_db(transaction=True)  # committed as a worker commits: on_commit runs at once


def _three_behind_a_cap_of_one() -> tuple[str, str, str, int]:
    first, second, third = (create_task(user_id="u1", prompt=f"tile {n}", model="jimeng_t2i_v30").id for n in range(3))
    step = services.task_process(task_id=first)
    assert services.task_process(task_id=second) is None  # the cap is full: parked
    assert services.task_process(task_id=third) is None
    return first, second, third, step.seq


def _poll_until_done(task_id: str, seq: int, sent) -> None:
    """Run the worker's poll task (its body, as a worker process runs it) until a look finds the
    generation done: the messages that last look sent stay in `sent`."""
    while True:
        sent.clear()
        tasks.poll_image_task(task_id, seq)
        again = [args for kind, args, _ in sent if kind == "poll" and args[0] == task_id]
        if not again:
            return
        seq = again[0][1]
        time.sleep(0.05)  # the fake generates for a moment


def test_the_poll_that_frees_the_slot_starts_the_next_task_in_its_process(jimeng_cap_of_one, sent):
    first, second, third, seq = _three_behind_a_cap_of_one()
    _poll_until_done(first, seq, sent)
    started = ImageTask.objects.get(pk=second)
    assert started.status == Status.PROCESSING and started.upstream_task_id  # submitted by that poll
    kinds = [(kind, args[0]) for kind, args, _ in sent]
    assert ("process", second) not in kinds  # no message for it: it started in the poll's process
    assert ("store", first) in kinds and ("poll", second) in kinds  # each one's next step, sent
    assert ImageTask.objects.get(pk=third).waiting_since is not None  # still parked: one slot, one start


def test_a_start_that_fails_after_the_poll_is_sent_again_by_the_reconciler(jimeng_cap_of_one, sent, monkeypatch):
    first, second, _third, seq = _three_behind_a_cap_of_one()

    def broken(**_kwargs):
        raise RuntimeError("the database went away")

    with monkeypatch.context() as patched:
        patched.setattr(services, "task_process", broken)
        _poll_until_done(first, seq, sent)  # the poll's own work is done and its next step sent
    assert ("store", first) in [(kind, args[0]) for kind, args, _ in sent]
    woken = ImageTask.objects.get(pk=second)
    assert woken.status == Status.PENDING and woken.waiting_since is None  # woken, not started
    ImageTask.objects.filter(pk=second).update(updated_at=timezone.now() - timedelta(minutes=5))
    sent.clear()
    services.tasks_reconcile()
    assert ("process", second) in [(kind, args[0]) for kind, args, _ in sent]
