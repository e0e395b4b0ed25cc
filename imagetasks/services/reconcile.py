"""Periodic repair (celery beat), safe to run anywhere any number of times: every repair is a
conditional update. And the periodic clean-up of expired records."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from providers import registry
from providers.base import UpstreamError
from users.counters import counters_expired_delete
from users.credits import credits_open, credits_settle, price

from .. import storage
from ..capacity import capacity
from ..journal import submission_find
from ..kinds import kind_get
from ..models import IdempotencyKey, ImageTask, Status
from . import sets
from .lifecycle import task_defer
from .limits import active_counters_resync
from .retention import files_expire
from .scheduling import NextStep, task_enqueue_on_commit
from .slots import tasks_wake
from .webhooks import webhooks_reconcile


def tasks_reconcile() -> dict:
    """Periodic repair (celery beat). Safe to run anywhere, any number of times:
    - a pending task whose wake-up was lost is enqueued again (also one still in the outbox: no
      dispatcher is running);
    - a processing task with an upstream id whose poll is overdue gets a poll (never a new submit);
    - a processing task without one whose worker vanished (lease expired) is polled if the journal
      holds the id the upstream gave it (the worker died before recording it), else goes back to
      pending;
    - a concurrency slot still counted for a task that is not running is given back;
    - credits reserved by a task that ended (or was never written) but were not settled are settled."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.TASK_REQUEUE_AFTER_SECONDS)
    report = {"webhooks": webhooks_reconcile(stale), "counters": active_counters_resync(stale)}
    report["requeued"] = _pending_requeue(stale)
    report["polled"] = _polls_resume(now, stale)
    report |= _lost_recover(now)
    report["released"] = _slots_release(stale)
    report["woken"] = _wake_for_free_slots()
    report["credits_settled"] = _credits_settle_open(stale)
    return report


def _pending_requeue(stale) -> int:
    requeued = 0
    pending = ImageTask.objects.filter(status=Status.PENDING, updated_at__lt=stale, waiting_since__isnull=True)
    for task_id, provider, next_at, outbox_since in pending.values_list(
        "id", "provider", "next_attempt_at", "outbox_since"
    ):
        if next_at is not None and next_at >= stale:
            continue
        in_outbox = ImageTask.objects.filter(pk=task_id, outbox_since__isnull=False)
        if outbox_since is not None and not in_outbox.update(outbox_since=None):
            continue  # a dispatcher sent it meanwhile
        task_enqueue_on_commit(task_id=task_id, provider=provider)
        requeued += 1
    return requeued


def _polls_resume(now, stale) -> int:
    polled = 0
    overdue = ImageTask.objects.filter(status=Status.PROCESSING).exclude(upstream_task_id="")
    for task in overdue.filter(Q(next_attempt_at__lt=stale) | Q(lease_expires_at__lt=now)):
        extended = ImageTask.objects.filter(pk=task.pk, status=Status.PROCESSING, polls=task.polls).update(
            next_attempt_at=now, lease_expires_at=now + timedelta(seconds=settings.TASK_LEASE_SECONDS)
        )
        if extended:
            step = NextStep("poll", 0, task.polls, task.provider)
            task_enqueue_on_commit(task_id=task.id, provider=task.provider, step=step)
            polled += 1
    return polled


def _lost_recover(now) -> dict:
    """Tasks whose worker vanished before it recorded an upstream id: adopted from the journal, or
    sent back to pending (failed when out of attempts)."""
    counts = {"adopted": 0, "recovered": 0, "failed": 0}
    lost = ImageTask.objects.filter(status=Status.PROCESSING, upstream_task_id="", lease_expires_at__lt=now)
    for task in lost:
        journaled = submission_find(task_id=task.id, attempt=task.attempts)
        if journaled is not None:  # the upstream accepted it, the worker died before recording it
            counts["adopted"] += _adopt(task, *journaled, now=now)
            continue
        if sets.set_cut_short(task, "the worker running this set stopped mid-stream"):
            counts["completed_partial"] = counts.get("completed_partial", 0) + 1
            continue  # the images it kept are the result; the stream is gone for good
        error = UpstreamError(
            "the worker running this task stopped before finishing", code="worker_lost", retryable=True
        )
        step = task_defer(task=task, error=error)
        if step is None:
            counts["failed"] += 1
        else:
            counts["recovered"] += 1
            task_enqueue_on_commit(task_id=task.id, provider=task.provider, step=step)
    return counts


def _adopt(task: ImageTask, upstream_task_id: str, submitted_at, *, now) -> int:
    adopted = ImageTask.objects.filter(
        pk=task.pk, status=Status.PROCESSING, upstream_task_id="", attempts=task.attempts
    ).update(
        upstream_task_id=upstream_task_id,
        submitted_at=submitted_at,
        next_attempt_at=now,
        lease_expires_at=now + timedelta(seconds=settings.TASK_LEASE_SECONDS),
        updated_at=now,
    )
    if adopted:
        step = NextStep("poll", 0, task.polls, task.provider)
        task_enqueue_on_commit(task_id=task.id, provider=task.provider, step=step)
    return adopted


def _slots_release(stale) -> int:
    """A slot still counted for a task nobody runs (its holder crashed right after finishing it)."""
    released = 0
    for task in ImageTask.objects.filter(holds_slot=True, updated_at__lt=stale).exclude(status=Status.PROCESSING):
        capacity().release(task)
        released += 1
    return released


def _credits_settle_open(stale) -> int:
    """Reservations left open by a crash. The one a task holds is settled once the task has ended
    (charged for what it delivered, the rest released); one no task holds — its task never written, or
    its request (a create, a retry that lost a race) gone before it could say — is released once it is
    older than any request lives (CREDITS_ORPHAN_SECONDS), so none is taken from a request still at it."""
    settled = 0
    now = timezone.now()
    seconds = (now - stale).total_seconds()
    for task_id, reservation, opened in credits_open(older_than_seconds=seconds):
        task = (
            ImageTask.objects.filter(pk=task_id)
            .only("status", "kind", "model", "result", "credits_reservation")
            .first()
        )
        held = task is not None and task.credits_reservation in (reservation, "")  # "": from before reservation ids
        if held and not task.is_terminal:
            continue
        if not held and (now - opened).total_seconds() < settings.CREDITS_ORPHAN_SECONDS:
            continue
        done = held and task.status == Status.COMPLETED
        delivered = kind_get(task.kind).delivered_units(task.result) if done else 0
        credits_settle(reservation=reservation, delivered=price(task.model, delivered) if delivered else 0)
        settled += 1
    return settled


def _wake_for_free_slots() -> int:
    """Wake-ups lost with a crashed worker or a flushed broker: as many waiting tasks as each
    provider has free slots (a task blocked by its model's cap parks again)."""
    woken = 0
    for provider in registry.provider_names():  # a few, each one indexed lookup when nothing waits
        cap = registry.provider_cap(provider)
        free = cap - capacity().in_use(provider) if cap else settings.RECONCILE_WAKE_BATCH
        woken += tasks_wake(provider=provider, count=max(0, min(free, settings.RECONCILE_WAKE_BATCH)))
    return woken


def records_expired_delete() -> dict:
    """Periodic clean-up: idempotency keys past their TTL, counters of past days and windows, and
    the stored files of tasks finished more than IMAGE_RETENTION_DAYS ago."""
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    return {
        "idempotency_keys": IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()[0],
        "counters": counters_expired_delete(),
        "tasks_with_files_expired": files_expire(),
        "orphaned_uploads": storage.uploads_orphaned_delete(),
    }
