"""The embedded-mode caps: counter rows moved only by conditional single-row updates."""

import pytest

from imagetasks.capacity import DatabaseCapacity
from imagetasks.models import CapacityCounter, ImageTask, Status
from tests.create import create_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def caps(settings):
    settings.UPSTREAM_CONCURRENCY = {"local": 2}
    settings.MODEL_CONCURRENCY = {"jimeng_t2i_v40": 1}
    return DatabaseCapacity()


def _task(model="jimeng_t2i_v30"):
    size = "2048x2048" if model == "jimeng_t2i_v40" else "1328x1328"
    return create_task(user_id="u1", prompt="p", model=model, size=size)


def _counts():
    return dict(CapacityCounter.objects.values_list("key", "in_use"))


def test_provider_cap(caps):
    a, b, c = _task(), _task(), _task()
    assert caps.acquire(a) and caps.acquire(b)
    assert not caps.acquire(c)
    assert caps.acquire(a)  # already holding: no second count
    assert _counts() == {"provider:local": 2, "model:jimeng_t2i_v30": 2}
    caps.release(a)
    caps.release(a)  # releasing twice gives back one slot only
    assert _counts()["provider:local"] == 1
    assert caps.acquire(c)
    assert set(ImageTask.objects.filter(holds_slot=True).values_list("id", flat=True)) == {b.id, c.id}


def test_model_cap_gives_back_the_provider_slot(caps):
    first, second = _task("jimeng_t2i_v40"), _task("jimeng_t2i_v40")
    assert caps.acquire(first)
    assert not caps.acquire(second)
    assert _counts() == {"provider:local": 1, "model:jimeng_t2i_v40": 1}


def test_reconciler_gives_back_slots_of_finished_tasks(caps, settings, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from imagetasks.services import tasks_reconcile

    task = _task()
    caps.acquire(task)
    old = timezone.now() - timedelta(seconds=settings.TASK_REQUEUE_AFTER_SECONDS + 1)
    ImageTask.objects.filter(pk=task.pk).update(status=Status.COMPLETED, updated_at=old)  # holder crashed here
    with django_capture_on_commit_callbacks(execute=False):
        report = tasks_reconcile()
    assert report["released"] == 1
    assert _counts()["provider:local"] == 0
