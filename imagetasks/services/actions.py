"""What a client or an operator does to a task: cancel it (and tell the upstream), retry it."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jimeng_server.errors import Conflict
from providers import registry
from providers.base import UpstreamError
from users.credits import credits_reserve, credits_settle

from .. import storage
from ..events import task_changed_on_commit
from ..kinds import model_resolve
from ..models import CANCELABLE_STATUSES, RETRYABLE_STATUSES, ImageTask, Status
from ..selectors import task_get
from .create import task_price
from .lifecycle import task_ended
from .limits import limits_give_back, limits_take
from .run import generation_request
from .scheduling import task_enqueue_on_commit, upstream_cancel_on_commit

log = logging.getLogger(__name__)


def task_cancel(*, task_id: str, owner: str | None = None) -> ImageTask:
    """Canceled, if still pending or processing. The update is conditional on the credit reservation
    read with the task, so what is released is the reservation the task held when it was canceled
    (never one a concurrent retry made after)."""
    for _ in range(5):  # another look only when a concurrent retry changed the reservation meanwhile
        task = task_get(task_id=task_id, owner=owner)
        reservation, now = task.credits_reservation, timezone.now()
        canceled = ImageTask.objects.filter(
            pk=task.pk, status__in=CANCELABLE_STATUSES, credits_reservation=reservation
        ).update(
            status=Status.CANCELED,
            error_code="canceled",
            error_message="canceled on request",
            finished_at=now,
            lease_expires_at=None,
            next_attempt_at=None,
            waiting_since=None,  # out of the line
            queue_ticket=None,
            webhook_due=bool(task.webhook_url),
            updated_at=now,
        )
        task.refresh_from_db()
        if canceled:
            task.credits_reservation = reservation  # the one the update held, whatever came after
            task_ended(task)
            if task.upstream_task_id and registry.provider_get(task.provider).supports_cancel:
                upstream_cancel_on_commit(task_id=task.id)
            return task
        if task.status not in CANCELABLE_STATUSES:
            break
    if task.status != Status.CANCELED:
        raise Conflict(f"Task {task.id} is already {task.status} and cannot be canceled.")
    return task


def task_delete(*, task_id: str, owner: str | None = None) -> None:
    """A task gone: canceled first if it still waits or runs (its credits and slot given back, the
    upstream told), then every file it kept, then its record."""
    task = task_get(task_id=task_id, owner=owner)
    if task.status in CANCELABLE_STATUSES:
        try:
            task = task_cancel(task_id=task_id, owner=owner)
        except Conflict:  # it ended meanwhile
            task.refresh_from_db()
    storage.task_files_delete(task)
    ImageTask.objects.filter(pk=task.pk).delete()


def task_cancel_upstream(*, task_id: str) -> bool:
    """Tell the upstream to stop a canceled task's generation (best effort; a result that still
    arrives is discarded)."""
    task = ImageTask.objects.filter(pk=task_id, status=Status.CANCELED).exclude(upstream_task_id="").first()
    if task is None:
        return False
    try:
        registry.provider_get(task.provider).cancel(generation_request(task), task.upstream_task_id)
    except UpstreamError as error:
        log.info("Upstream cancel of task %s failed: %s", task_id, error.message)
        return False
    return True


def task_retry(*, task_id: str, owner: str | None = None) -> ImageTask:
    """A failed or canceled task goes back to pending with a fresh attempt budget, paid for again under
    a reservation of its own. Of concurrent retries one wins; each loser releases only the reservation
    it made itself."""
    task = task_get(task_id=task_id, owner=owner)
    if task.status not in RETRYABLE_STATUSES:
        raise Conflict(f"Task {task.id} is {task.status}; only failed or canceled tasks can be retried.")
    reserved = limits_take(user_id=task.user_id)  # a retry is a new task for the user's limits
    try:  # and is paid for again (a failed or canceled task's credits were released)
        amount = task_price(model_resolve(task.model), task.params or {})
        credits, reservation = credits_reserve(user_id=task.user_id, task_id=task.id, model=task.model, amount=amount)
    except BaseException:
        limits_give_back(reserved)
        raise
    now = timezone.now()
    with transaction.atomic():
        # Conditional on the status, attempt count and reservation just read: one concurrent retry wins.
        moved = ImageTask.objects.filter(
            pk=task.pk,
            status__in=RETRYABLE_STATUSES,
            attempts=task.attempts,
            credits_reservation=task.credits_reservation,
        ).update(
            status=Status.PENDING,
            attempts_limit=task.attempts + settings.TASK_MAX_ATTEMPTS,
            upstream_task_id="",
            submitted_at=None,
            error_code="",
            error_message="",
            result=None,
            finished_at=None,
            next_attempt_at=None,
            credits_reserved=credits,
            credits_reservation=reservation,
            updated_at=now,
        )
        if moved:
            task_enqueue_on_commit(task_id=task.id, provider=task.provider)
            task_changed_on_commit(task.id)
    task.refresh_from_db()
    if not moved:
        limits_give_back(reserved)
        credits_settle(reservation=reservation, delivered=0)  # its own, never the winner's
        raise Conflict(f"Task {task.id} is {task.status}; only failed or canceled tasks can be retried.")
    return task
