"""Status changes are conditional updates: duplicates, stale workers, cancels and retries race safely."""

from datetime import timedelta

import pytest
from django.utils import timezone

from imagetasks import services
from imagetasks.models import ImageTask, Status
from providers.base import UpstreamError

pytestmark = pytest.mark.django_db


def _new(**kwargs):
    return services.task_create(user_id="user_123", prompt="a cat", **kwargs)


def test_create_enqueues_after_commit(django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr("imagetasks.tasks.process_image_task.apply_async", lambda args, **kw: sent.append(args))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        task = _new()
        assert sent == []  # nothing leaves before the row is committed
    assert len(callbacks) == 1
    callbacks[0]()
    assert sent == [(task.id,)]


def test_broker_down_at_create_loses_nothing(django_capture_on_commit_callbacks, monkeypatch):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr("imagetasks.tasks.process_image_task.apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        task = _new()
    assert ImageTask.objects.get(pk=task.id).status == Status.PENDING  # the reconciler will enqueue it


def test_duplicate_delivery_is_harmless():
    task = _new()
    assert services.task_claim(task_id=task.id) is not None
    assert services.task_claim(task_id=task.id) is None
    services.task_process(task_id=task.id)  # a second delivery while the first runs: no-op
    task.refresh_from_db()
    assert task.status == Status.PROCESSING
    assert task.attempts == 1


def test_result_arriving_after_cancel_is_discarded():
    task = _new()
    claimed = services.task_claim(task_id=task.id)
    services.task_cancel(task_id=task.id)
    assert services.task_complete(task=claimed, images=[{"name": "x.png"}]) is False
    task.refresh_from_db()
    assert task.status == Status.CANCELED
    assert task.result is None


def test_a_stale_worker_cannot_finish_a_reclaimed_task():
    task = _new()
    first = services.task_claim(task_id=task.id)
    ImageTask.objects.filter(pk=task.id).update(status=Status.PENDING)  # as after a lease takeover
    second = services.task_claim(task_id=task.id)
    assert second.attempts == 2
    assert services.task_fail(task=first, code="x", message="stale") is False
    assert services.task_complete(task=second, images=[]) is True


def test_retryable_errors_back_off_then_fail(monkeypatch, settings):
    settings.TASK_MAX_ATTEMPTS = 2
    calls = []

    def throttled(self, request):
        calls.append(request.task_id)
        raise UpstreamError("upstream is throttling (50429)", code="50429", retryable=True)

    monkeypatch.setattr("providers.local.LocalProvider.generate", throttled)
    task = _new()
    delay = services.task_process(task_id=task.id)
    task.refresh_from_db()
    assert delay is not None and 0 < delay <= settings.TASK_RETRY_BACKOFF_SECONDS
    assert task.status == Status.PENDING
    assert task.error_message == "upstream is throttling (50429) (will retry)"
    assert task.next_attempt_at > timezone.now()

    assert services.task_process(task_id=task.id) is None
    task.refresh_from_db()
    assert task.status == Status.FAILED
    assert task.error_code == "50429"
    assert task.error_message == "upstream is throttling (50429) (gave up after 2 attempts)"
    assert len(calls) == 2


def test_final_errors_fail_at_once(monkeypatch):
    def rejected(self, request):
        raise UpstreamError("prompt rejected by content moderation (50413)", code="50413")

    monkeypatch.setattr("providers.local.LocalProvider.generate", rejected)
    task = _new()
    services.task_process(task_id=task.id)
    task.refresh_from_db()
    assert (task.status, task.attempts, task.error_code) == (Status.FAILED, 1, "50413")


def test_unexpected_exceptions_end_the_task_with_a_reason(monkeypatch):
    def broken(self, request):
        raise KeyError("boom")

    monkeypatch.setattr("providers.local.LocalProvider.generate", broken)
    task = _new()
    services.task_process(task_id=task.id)
    task.refresh_from_db()
    assert task.status == Status.FAILED
    assert task.error_message == "internal error while generating (KeyError)"


def test_retry_gives_a_fresh_attempt_budget(settings, monkeypatch):
    settings.LOCAL_PROVIDER_FAILURE_RATE = 1.0
    task = _new()
    services.task_process(task_id=task.id)
    task.refresh_from_db()
    assert task.status == Status.FAILED
    settings.LOCAL_PROVIDER_FAILURE_RATE = 0.0
    services.task_retry(task_id=task.id)
    task.refresh_from_db()
    assert (task.status, task.attempts_limit, task.error_message) == (
        Status.PENDING,
        1 + settings.TASK_MAX_ATTEMPTS,
        "",
    )
    services.task_process(task_id=task.id)
    task.refresh_from_db()
    assert task.status == Status.COMPLETED
    assert task.attempts == 2


def test_reconcile_requeues_lost_pending_and_recovers_expired_leases(
    django_capture_on_commit_callbacks, monkeypatch, settings
):
    sent = []
    monkeypatch.setattr(
        "imagetasks.tasks.process_image_task.apply_async", lambda args, **kw: sent.append((args[0], kw))
    )
    old = timezone.now() - timedelta(seconds=settings.TASK_REQUEUE_AFTER_SECONDS + 5)
    fresh, lost, backing_off, stuck, exhausted = (_new() for _ in range(5))
    ImageTask.objects.filter(pk__in=[lost.id, backing_off.id]).update(updated_at=old)
    ImageTask.objects.filter(pk=backing_off.id).update(next_attempt_at=timezone.now() + timedelta(seconds=30))
    for task in (stuck, exhausted):
        services.task_claim(task_id=task.id)
    ImageTask.objects.filter(pk__in=[stuck.id, exhausted.id]).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    ImageTask.objects.filter(pk=exhausted.id).update(attempts_limit=1)

    with django_capture_on_commit_callbacks(execute=True):
        report = services.tasks_reconcile()

    assert report == {"requeued": 1, "recovered": 1, "failed": 1}
    assert [task_id for task_id, _ in sent] == [lost.id, stuck.id]
    assert ImageTask.objects.get(pk=stuck.id).status == Status.PENDING
    exhausted.refresh_from_db()
    assert exhausted.status == Status.FAILED
    assert exhausted.error_message == "the worker running this task stopped before finishing (gave up after 1 attempts)"
    assert ImageTask.objects.get(pk=fresh.id).status == Status.PENDING
