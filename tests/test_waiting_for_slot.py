"""A task that finds its cap full parks (pending, `waiting_since` set) with no timer: the task that
frees a slot wakes the oldest one waiting, and the reconciler wakes as many as there are free slots
when wake-ups were lost. A backlog far above the cap costs nothing while it waits."""

from datetime import timedelta

import pytest
from django.utils import timezone

from imagetasks import services
from imagetasks.models import ImageTask, Status
from tests.create import create_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def cap_of_one(settings):
    settings.UPSTREAM_CONCURRENCY = {"local": 1}
    settings.CAPACITY_REDIS_URL = ""
    settings.CELERY_BROKER_URL = "filesystem://"  # embedded mode: slots counted in the database
    settings.LOCAL_PROVIDER_LATENCY_SECONDS = 3600
    return settings


def _new(prompt="a cat"):
    return create_task(user_id="user_123", prompt=prompt)


def _waiting(task_id) -> bool:
    return ImageTask.objects.filter(pk=task_id, status=Status.PENDING, waiting_since__isnull=False).exists()


def test_a_full_cap_parks_the_task_without_a_timer(cap_of_one):
    running, second, third = _new(), _new(), _new()
    assert services.task_process(task_id=running.id).action == "poll"
    assert services.task_process(task_id=second.id) is None  # nothing scheduled: it waits for a wake-up
    assert services.task_process(task_id=third.id) is None
    assert _waiting(second.id) and _waiting(third.id)


def test_the_task_that_frees_a_slot_wakes_the_oldest_waiting(cap_of_one, sent, django_capture_on_commit_callbacks):
    running, oldest, younger = _new(), _new(), _new()
    services.task_process(task_id=running.id)
    services.task_process(task_id=oldest.id)
    services.task_process(task_id=younger.id)
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.task_cancel(task_id=running.id)
    assert [(kind, args[0]) for kind, args, _ in sent if kind == "process"] == [("process", oldest.id)]
    assert not _waiting(oldest.id) and _waiting(younger.id)
    step = services.task_process(task_id=oldest.id)  # the wake-up arrives: it takes the slot
    assert step.action == "poll"
    assert ImageTask.objects.get(pk=oldest.id).status == Status.PROCESSING


def test_the_reconciler_wakes_as_many_as_there_are_free_slots(cap_of_one, sent, django_capture_on_commit_callbacks):
    cap_of_one.UPSTREAM_CONCURRENCY = {"local": 2}
    running = _new()
    services.task_process(task_id=running.id)
    waiting = [_new(f"cat {n}") for n in range(4)]
    cap_of_one.UPSTREAM_CONCURRENCY = {"local": 1}  # full now: they all park
    for task in waiting:
        assert services.task_process(task_id=task.id) is None
    old = timezone.now() - timedelta(seconds=cap_of_one.TASK_REQUEUE_AFTER_SECONDS + 5)
    ImageTask.objects.filter(pk__in=[t.id for t in waiting]).update(updated_at=old)

    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        report = services.tasks_reconcile()
    assert (report["requeued"], report["woken"]) == (0, 0)  # parked is not lost; no slot is free
    assert sent == []

    cap_of_one.UPSTREAM_CONCURRENCY = {"local": 3}  # two slots free, and their wake-ups were lost
    with django_capture_on_commit_callbacks(execute=True):
        report = services.tasks_reconcile()
    assert report["woken"] == 2
    assert sorted(args[0] for _, args, _ in sent) == sorted(t.id for t in waiting[:2])
    assert [_waiting(t.id) for t in waiting] == [False, False, True, True]


def test_a_task_sent_back_to_retry_also_wakes_the_oldest_waiting(cap_of_one, sent, django_capture_on_commit_callbacks):
    from providers.base import UpstreamError

    running, waiting = _new(), _new()
    services.task_process(task_id=running.id)
    services.task_process(task_id=waiting.id)
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        step = services.task_defer(
            task=ImageTask.objects.get(pk=running.id), error=UpstreamError("busy", code="50429", retryable=True)
        )
    assert step.action == "process"  # its own retry, after a backoff
    assert [args[0] for kind, args, _ in sent if kind == "process"] == [waiting.id]
    assert not _waiting(waiting.id)
