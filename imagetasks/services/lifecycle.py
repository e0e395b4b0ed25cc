"""A claimed task's state machine: claim, end (completed or failed), defer a retryable failure. Every
change is a conditional single-row update on the claim, so duplicate deliveries, concurrent workers
and an operator's cancel can race without harm."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from jimeng_server import metrics
from jimeng_server.backoff import backoff_seconds
from providers import registry
from providers.base import UpstreamError
from users.credits import credits_settle, price

from .. import cadence, storage
from ..events import task_changed_on_commit
from ..kinds import kind_get
from ..models import ImageTask, Status
from .accounts import account_rest, account_take_out, accounts_for_work
from .limits import active_give_back
from .scheduling import NextStep
from .slots import slot_free
from .webhooks import webhook_dispatch, webhook_status_changed


def task_claim(*, task_id: str, account: str = "") -> ImageTask | None:
    """Take a pending task for this worker, to run on `account`. None when someone else has it or it
    is finished — a duplicate delivery ends here."""
    now = timezone.now()
    claimed = ImageTask.objects.filter(pk=task_id, status=Status.PENDING).update(
        status=Status.PROCESSING,
        account=account,
        attempts=F("attempts") + 1,
        started_at=now,
        lease_expires_at=now + timedelta(seconds=settings.TASK_LEASE_SECONDS),
        next_attempt_at=None,
        waiting_since=None,
        queue_ticket=None,
        updated_at=now,
    )
    if not claimed:
        return None
    task = ImageTask.objects.get(pk=task_id)
    webhook_status_changed(task)
    task_changed_on_commit(task_id)
    return task


def task_held(task: ImageTask):
    """The row, as long as it is still this claim's: processing, and not re-claimed since."""
    return ImageTask.objects.filter(pk=task.pk, status=Status.PROCESSING, attempts=task.attempts)


def _end(task: ImageTask, status: Status, *, hold_seconds: float = 0, delivered_units: int = 0, **fields) -> bool:
    """The one way a claimed task ends (completed or failed): a conditional update on the claim,
    then its slot back and its webhook on its way."""
    now = timezone.now()
    done = task_held(task).update(
        status=status,
        finished_at=now,
        lease_expires_at=None,
        next_attempt_at=None,
        webhook_due=bool(task.webhook_url),
        updated_at=now,
        **fields,
    )
    if done:
        task_ended(task, hold_seconds, delivered_units, kept=ImageTask(result=fields.get("result")).output_names)
    return bool(done)


def task_ended(task: ImageTask, hold_seconds: float = 0, delivered_units: int = 0, kept=()) -> None:
    """What follows the end of a task, whichever way it ended: watchers told, the user's limits and
    the slot given back, its credits charged for the images delivered (the rest released), its
    webhook on its way, and every output it stored but does not keep (`kept`: its result's) deleted.
    A crash in here is repaired by the reconciler (the files: by the task's deletion or retention)."""
    task_changed_on_commit(task.id)
    transaction.on_commit(lambda: storage.task_outputs_prune(task_id=task.id, keep=kept))
    active_give_back(task.user_id)
    slot_free(task, hold_seconds)
    if task.credits_reservation:
        credits_settle(reservation=task.credits_reservation, delivered=price(task.model, delivered_units))
    if task.webhook_url:
        webhook_dispatch(task_id=task.id)


def task_complete(*, task: ImageTask, result: dict) -> bool:
    """Completed with the stored outputs (`{"images": [...]}` or `{"videos": [...]}`): charged for the
    units its kind says they are."""
    done = _end(
        task,
        Status.COMPLETED,
        delivered_units=kind_get(task.kind).delivered_units(result),
        result=result,
        error_code="",
        error_message="",
    )
    if done:
        seconds = (timezone.now() - (task.submitted_at or task.started_at or task.created_at)).total_seconds()
        metrics.GENERATION_SECONDS.labels(task.provider, task.model, task.kind).observe(seconds)
        if task.started_at:
            cadence.run_observed(task.provider, task.model, (timezone.now() - task.started_at).total_seconds())
    return done


def task_fail(*, task: ImageTask, code: str, message: str, hold_seconds: float = 0) -> bool:
    done = _end(task, Status.FAILED, hold_seconds=hold_seconds, error_code=code[:64], error_message=message)
    if done:
        metrics.FAILURES.labels(task.provider, code[:64], task.kind).inc()
    return done


def in_flight_hold(error: UpstreamError) -> float:
    return settings.CAPACITY_IN_FLIGHT_HOLD_SECONDS if error.in_flight else 0


def task_defer(*, task: ImageTask, error: UpstreamError) -> NextStep | None:
    """A retryable failure: back to pending after a backoff (a new generation next time), or failed
    when the attempts are used up. Returns the step to schedule when a retry is due."""
    hold = in_flight_hold(error)
    if task.attempts >= task.attempts_limit:
        task_fail(
            task=task,
            code=error.code or "upstream_error",
            message=f"{error.message} (gave up after {task.attempts} attempts)",
            hold_seconds=hold,
        )
        return None
    base, most = settings.TASK_RETRY_BACKOFF_SECONDS, settings.TASK_RETRY_BACKOFF_MAX_SECONDS
    delay = max(backoff_seconds(task.attempts, base=base, maximum=most), hold)
    now = timezone.now()
    moved = task_held(task).update(
        status=Status.PENDING,
        resubmits=task.resubmits + (1 if error.resubmit else 0),
        upstream_task_id="",
        submitted_at=None,
        error_code=error.code[:64],
        error_message=f"{error.message} (will retry)",
        next_attempt_at=now + timedelta(seconds=delay),
        lease_expires_at=None,
        updated_at=now,
    )
    if not moved:
        return None
    metrics.RETRIES.labels(task.provider, error.code or "upstream_error", task.kind).inc()
    task_changed_on_commit(task.id)
    slot_free(task, hold)
    return NextStep("process", delay, provider=task.provider)


def upstream_failed(task: ImageTask, error: UpstreamError) -> NextStep | None:
    metrics.ACCOUNT_FAILURES.labels(task.provider, task.account, error.code or "upstream_error").inc()
    if error.throttled and task.account:
        account_rest(provider=task.provider, name=task.account)
    if error.account_down and task.account:
        provider = registry.provider_get(task.provider)
        keys = next((a.fingerprint for a in provider.accounts() if a.name == task.account), "")
        account_take_out(provider=task.provider, name=task.account, reason=error.message, keys=keys)
        # The request was fine; its account was not. Another account runs it (a poll refused means the
        # generation is out of reach: a new one), unless none is left.
        if accounts_for_work(provider):
            error = UpstreamError(
                f"{error.message} (account {task.account} taken out of rotation; another one takes over)",
                code=error.code,
                retryable=True,
                resubmit=bool(task.upstream_task_id),
            )
    if error.resubmit and task.resubmits >= settings.TASK_MAX_RESUBMITS:
        message = f"{error.message} (already submitted again {task.resubmits} time(s))"
        task_fail(task=task, code=error.code or "upstream_error", message=message)
        return None
    if error.retryable:
        return task_defer(task=task, error=error)
    task_fail(task=task, code=error.code or "upstream_error", message=error.message, hold_seconds=in_flight_hold(error))
    return None
