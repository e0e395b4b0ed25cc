"""Status changes are conditional updates: duplicates, stale workers, cancels and retries race safely."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from imagetasks import services
from imagetasks.models import ImageTask, Status
from providers import registry
from providers.base import UpstreamError
from tests.create import create_task
from tests.drive import drive

pytestmark = pytest.mark.django_db


def _new(**kwargs):
    return create_task(user_id="user_123", prompt="a cat", **kwargs)


def test_create_only_writes_the_row_into_the_outbox(django_capture_on_commit_callbacks, sent):
    with django_capture_on_commit_callbacks(execute=True):
        task = _new()
    assert sent == []  # no broker round trip on a create's path
    assert ImageTask.objects.get(pk=task.id).outbox_since is not None


def test_the_dispatcher_sends_each_new_task_once_to_the_default_queue(monkeypatch):
    tasks = [_new() for _ in range(3)]
    seen = []

    def send(name, args, **options):  # what a worker receiving the message at once would find
        row = ImageTask.objects.get(pk=args[0])
        seen.append((name, args, options, row.status, row.outbox_since))

    monkeypatch.setattr("imagetasks.services.scheduling.send", send)
    assert services.outbox_dispatch() == 3
    assert services.outbox_dispatch() == 0  # claimed: never sent twice
    options = {"countdown": None, "queue": "imagetasks", "priority": 6}
    assert seen == [("imagetasks.process", (task.id,), options, Status.PENDING, None) for task in tasks]


def test_a_task_canceled_in_the_outbox_is_not_sent(sent):
    task = _new()
    services.task_cancel(task_id=task.id)
    assert services.outbox_dispatch() == 0
    assert sent == [] and ImageTask.objects.get(pk=task.id).outbox_since is None


def test_broker_down_at_dispatch_loses_nothing(settings, monkeypatch, django_capture_on_commit_callbacks):
    sent, broker_up = [], False

    def send(name, args, **options):
        if not broker_up:
            raise ConnectionError("broker unreachable")
        sent.append((name, args))

    monkeypatch.setattr("imagetasks.services.scheduling.send", send)
    task = _new()
    services.outbox_dispatch()  # claimed, and the send failed (logged)
    broker_up = True
    settings.TASK_REQUEUE_AFTER_SECONDS = 0
    ImageTask.objects.filter(pk=task.id).update(updated_at=timezone.now() - timedelta(seconds=5))
    with django_capture_on_commit_callbacks(execute=True):
        services.tasks_reconcile()
    assert sent == [("imagetasks.process", (task.id,))]  # the reconciler sends what was not sent


def test_submit_persists_the_upstream_id_then_polls():
    task = _new()
    step = services.task_process(task_id=task.id)
    task.refresh_from_db()
    assert task.status == Status.PROCESSING
    assert task.upstream_task_id.startswith("local-")
    assert task.submitted_at is not None
    assert (step.action, step.seq) == ("poll", 0)
    assert services.task_poll(task_id=task.id, seq=0) is None  # latency 0 in tests: done at once
    task.refresh_from_db()
    assert task.status == Status.COMPLETED
    assert task.polls == 1


def test_duplicate_and_stale_polls_do_nothing(settings):
    settings.LOCAL_PROVIDER_LATENCY_SECONDS = 60
    task = _new()
    services.task_process(task_id=task.id)
    first = services.task_poll(task_id=task.id, seq=0)
    assert first.action == "poll" and first.seq == 1
    assert services.task_poll(task_id=task.id, seq=0) is None  # the same message delivered twice
    assert services.task_poll(task_id=task.id, seq=7) is None  # a message from nowhere
    task.refresh_from_db()
    assert task.polls == 1


def test_duplicate_delivery_is_harmless(monkeypatch):
    submits = []
    original = registry.provider_get("local").submit
    monkeypatch.setattr(
        "providers.local.LocalProvider.submit", lambda self, request: submits.append(1) or original(request)
    )
    task = _new()
    services.task_process(task_id=task.id)
    assert services.task_process(task_id=task.id) is None  # the same wake-up delivered again
    assert services.task_claim(task_id=task.id) is None
    task.refresh_from_db()
    assert (task.status, task.attempts, len(submits)) == (Status.PROCESSING, 1, 1)


def test_result_arriving_after_cancel_is_discarded(settings):
    settings.LOCAL_PROVIDER_LATENCY_SECONDS = 0
    task = _new()
    step = services.task_process(task_id=task.id)
    services.task_cancel(task_id=task.id)
    assert services.task_poll(task_id=task.id, seq=step.seq) is None
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
    assert services.task_complete(task=second, result={"images": []}) is True


def test_retryable_errors_back_off_then_fail(monkeypatch, settings):
    settings.TASK_MAX_ATTEMPTS = 2
    calls = []

    def throttled(self, request):
        calls.append(request.task_id)
        raise UpstreamError("upstream is throttling (50429)", code="50429", retryable=True)

    monkeypatch.setattr("providers.local.LocalProvider.submit", throttled)
    task = _new()
    step = services.task_process(task_id=task.id)
    task.refresh_from_db()
    assert step.action == "process"
    assert 0 < step.delay <= settings.TASK_RETRY_BACKOFF_SECONDS
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

    monkeypatch.setattr("providers.local.LocalProvider.submit", rejected)
    task = _new()
    drive(task.id)
    task.refresh_from_db()
    assert (task.status, task.attempts, task.error_code) == (Status.FAILED, 1, "50413")


def test_a_generation_lost_upstream_is_submitted_again(monkeypatch):
    outcomes = [UpstreamError("the Jimeng task expired", code="expired", retryable=True, resubmit=True)]
    original = registry.provider_get("local").poll

    def poll(self, request, upstream_task_id):
        if outcomes:
            raise outcomes.pop()
        return original(request, upstream_task_id)

    monkeypatch.setattr("providers.local.LocalProvider.poll", poll)
    task = _new()
    steps = drive(task.id)
    task.refresh_from_db()
    assert task.status == Status.COMPLETED
    assert task.attempts == 2
    assert [step.action for step in steps] == ["poll", "process", "poll"]


def test_a_lost_generation_is_submitted_again_once_then_fails(monkeypatch):
    def poll(self, request, upstream_task_id):
        raise UpstreamError(
            "Jimeng no longer knows this task (not_found)", code="not_found", retryable=True, resubmit=True
        )

    monkeypatch.setattr("providers.local.LocalProvider.poll", poll)
    task = _new()
    drive(task.id)
    task.refresh_from_db()
    assert (task.status, task.attempts, task.resubmits) == (Status.FAILED, 2, 1)
    assert task.error_message == "Jimeng no longer knows this task (not_found) (already submitted again 1 time(s))"


def test_passing_poll_errors_keep_polling(monkeypatch):
    outcomes = [UpstreamError("Jimeng did not answer in time (timeout)", code="timeout", retryable=True)] * 3
    original = registry.provider_get("local").poll

    def poll(self, request, upstream_task_id):
        if outcomes:
            raise outcomes.pop()
        return original(request, upstream_task_id)

    monkeypatch.setattr("providers.local.LocalProvider.poll", poll)
    task = _new()
    drive(task.id)
    task.refresh_from_db()
    assert (task.status, task.attempts, task.polls) == (Status.COMPLETED, 1, 4)


def test_unexpected_exceptions_end_the_task_with_a_reason(monkeypatch):
    def broken(self, request):
        raise KeyError("boom")

    monkeypatch.setattr("providers.local.LocalProvider.submit", broken)
    task = _new()
    drive(task.id)
    task.refresh_from_db()
    assert task.status == Status.FAILED
    assert task.error_message == "internal error while generating (KeyError)"


def test_deadline_fails_a_generation_that_never_ends(settings):
    settings.LOCAL_PROVIDER_LATENCY_SECONDS = 3600
    task = _new()
    step = services.task_process(task_id=task.id)
    ImageTask.objects.filter(pk=task.id).update(
        submitted_at=timezone.now() - timedelta(seconds=settings.TASK_DEADLINE_SECONDS + 1)
    )
    assert services.task_poll(task_id=task.id, seq=step.seq) is None
    task.refresh_from_db()
    assert task.status == Status.FAILED
    assert task.error_code == "timeout"
    assert task.error_message.startswith(f"timed out after {settings.TASK_DEADLINE_SECONDS + 1} s")


def test_retry_gives_a_fresh_attempt_budget(settings):
    settings.LOCAL_PROVIDER_FAILURE_RATE = 1.0
    task = _new()
    drive(task.id)
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
    drive(task.id)
    task.refresh_from_db()
    assert task.status == Status.COMPLETED
    assert task.attempts == 2


def test_reconcile(django_capture_on_commit_callbacks, sent, settings):
    settings.LOCAL_PROVIDER_LATENCY_SECONDS = 3600
    old = timezone.now() - timedelta(seconds=settings.TASK_REQUEUE_AFTER_SECONDS + 5)
    fresh, lost, backing_off, polling, overdue, stuck, exhausted = (_new() for _ in range(7))
    ImageTask.objects.filter(pk__in=[lost.id, backing_off.id]).update(updated_at=old)
    ImageTask.objects.filter(pk=backing_off.id).update(next_attempt_at=timezone.now() + timedelta(seconds=30))
    for task in (polling, overdue):
        services.task_process(task_id=task.id)
    ImageTask.objects.filter(pk=overdue.id).update(next_attempt_at=old)  # its poll message was lost
    for task in (stuck, exhausted):  # workers died between claim and submit
        services.task_claim(task_id=task.id)
    ImageTask.objects.filter(pk__in=[stuck.id, exhausted.id]).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    ImageTask.objects.filter(pk=exhausted.id).update(attempts_limit=1)

    sent.clear()  # (on MongoDB the creations above already sent theirs: no outer transaction)
    with django_capture_on_commit_callbacks(execute=True):
        report = services.tasks_reconcile()

    assert report == {
        "requeued": 1,
        "polled": 1,
        "adopted": 0,
        "recovered": 1,
        "failed": 1,
        "released": 0,
        "webhooks": 0,
        "woken": 0,
        "credits_settled": 0,
        "counters": 0,
    }
    assert sorted((kind, args[0]) for kind, args, _ in sent) == sorted(
        [("process", lost.id), ("poll", overdue.id), ("process", stuck.id)]
    )
    assert ImageTask.objects.get(pk=stuck.id).status == Status.PENDING
    exhausted.refresh_from_db()
    assert exhausted.status == Status.FAILED
    assert exhausted.error_message == "the worker running this task stopped before finishing (gave up after 1 attempts)"
    assert ImageTask.objects.get(pk=fresh.id).status == Status.PENDING
    assert ImageTask.objects.get(pk=polling.id).upstream_task_id  # untouched: its poll chain is alive


class _WorkerKilled(BaseException):
    """A SIGKILL at that line: nothing after it runs, no handler sees it."""


@pytest.mark.django_db(transaction=True)
def test_a_submission_whose_worker_died_before_recording_it_is_polled_not_sent_again(
    settings, redis_url, upstream_settings, fake_upstream, sent, monkeypatch
):
    settings.CAPACITY_REDIS_URL = redis_url  # a deployment with a shared Redis (the journal)
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    task = create_task(user_id="u1", prompt="submitted once", model="jimeng_t2i_v30")

    def killed(*args, **kwargs):  # the upstream has accepted it; the database write never happens
        raise _WorkerKilled

    with monkeypatch.context() as patched:
        patched.setattr("imagetasks.services.run.task_held", killed)
        with pytest.raises(_WorkerKilled):
            services.task_process(task_id=task.id)
    row = ImageTask.objects.get(pk=task.id)
    assert row.status == Status.PROCESSING and row.upstream_task_id == ""
    ImageTask.objects.filter(pk=task.id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))

    sent.clear()
    report = services.tasks_reconcile()
    assert report["adopted"] == 1 and report["recovered"] == 0
    row.refresh_from_db()
    assert row.upstream_task_id and row.submitted_at is not None and row.status == Status.PROCESSING
    assert [(kind, args[0]) for kind, args, _ in sent] == [("poll", task.id)]
    [(_, (task_id, seq), _)] = sent
    while (step := services.task_poll(task_id=task_id, seq=seq)) is not None:  # the fake takes 0.2 s
        if step.action == "store":  # done: its images are downloaded by the store step
            assert services.task_store(task_id=task_id, seq=step.seq, payload=step.payload) is None
            break
        seq = step.seq
        time.sleep(0.05)
    row.refresh_from_db()
    assert row.status == Status.COMPLETED, (row.error_code, row.error_message)
    assert fake_upstream.state.snapshot()["submissions"] == {"submitted once": 1}  # paid for once
