"""Writes of image tasks: create, claim, run, complete, fail, cancel, retry, reconcile.

The database is the source of truth. Every status change is a conditional single-row update (the
row must still be in the status the caller saw), so duplicate deliveries, concurrent workers and an
operator's cancel can race without harm."""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from jimeng_server.errors import Conflict, InvalidInput
from providers import registry
from providers.base import GenerationRequest, UpstreamError
from providers.images import images_delete, images_store
from users.services import user_get_or_create_implicit

from .models import CANCELABLE_STATUSES, RETRYABLE_STATUSES, ImageTask, Status
from .selectors import task_get

log = logging.getLogger(__name__)


def task_create(
    *,
    user_id: str,
    prompt: str,
    model: str | None = None,
    size: str | None = None,
    quality: str = "standard",
    seed: int | None = None,
    external_task_id: str = "",
    reference_images: list[str] | None = None,
) -> ImageTask:
    spec = registry.model_resolve(model)
    prompt = prompt.strip()
    if len(prompt) > spec.max_prompt_chars:
        raise InvalidInput(
            f"prompt is {len(prompt)} characters long; {spec.id} accepts at most {spec.max_prompt_chars}."
        )
    width, height = registry.size_parse(spec, size)
    reference_images = list(reference_images or [])
    if reference_images and not spec.max_reference_images:
        raise InvalidInput(f"{spec.id} does not take reference images; leave image_urls out or pick a model that does.")
    if len(reference_images) > spec.max_reference_images:
        raise InvalidInput(
            f"{spec.id} accepts at most {spec.max_reference_images} reference images, got {len(reference_images)}."
        )
    if len(reference_images) < spec.min_reference_images:
        raise InvalidInput(f"{spec.id} needs at least {spec.min_reference_images} reference image(s) in image_urls.")
    provider = registry.provider_choose(spec)

    user = user_get_or_create_implicit(user_id=user_id)
    if external_task_id and ImageTask.objects.filter(user=user, external_task_id=external_task_id).exists():
        raise Conflict(f"User '{user_id}' already has a task with external_task_id '{external_task_id}'.")
    params = {"size": f"{width}x{height}", "width": width, "height": height, "quality": quality}
    if seed is not None:
        params["seed"] = seed
    if reference_images:
        params["image_urls"] = reference_images
    with transaction.atomic():
        task = ImageTask.objects.create(
            user=user,
            external_task_id=external_task_id,
            provider=provider,
            model=spec.id,
            prompt=prompt,
            params=params,
            attempts_limit=settings.TASK_MAX_ATTEMPTS,
        )
        task_enqueue_on_commit(task_id=task.id)
    return task


def task_enqueue_on_commit(*, task_id: str, countdown: float | None = None) -> None:
    """Wake a worker for this task once the row it will read is committed. A broker that is down
    loses nothing: the row stays pending and the reconciler enqueues it again."""

    def _send():
        from .tasks import process_image_task

        try:
            process_image_task.apply_async((task_id,), countdown=countdown, retry=False)
        except Exception:
            log.warning("Could not enqueue task %s; the reconciler will enqueue it again", task_id, exc_info=True)

    transaction.on_commit(_send)


def task_claim(*, task_id: str) -> ImageTask | None:
    """Take a pending task for this worker. None when someone else has it or it is finished — a
    duplicate delivery ends here."""
    now = timezone.now()
    claimed = ImageTask.objects.filter(pk=task_id, status=Status.PENDING).update(
        status=Status.PROCESSING,
        attempts=F("attempts") + 1,
        started_at=now,
        lease_expires_at=now + timedelta(seconds=settings.TASK_LEASE_SECONDS),
        next_attempt_at=None,
        updated_at=now,
    )
    if not claimed:
        return None
    return ImageTask.objects.get(pk=task_id)


def _held(task: ImageTask):
    """The row, as long as it is still this claim's: processing, and not re-claimed since."""
    return ImageTask.objects.filter(pk=task.pk, status=Status.PROCESSING, attempts=task.attempts)


def task_complete(*, task: ImageTask, images: list[dict]) -> bool:
    now = timezone.now()
    done = _held(task).update(
        status=Status.COMPLETED,
        result={"images": images},
        error_code="",
        error_message="",
        finished_at=now,
        lease_expires_at=None,
        updated_at=now,
    )
    return bool(done)


def task_fail(*, task: ImageTask, code: str, message: str) -> bool:
    now = timezone.now()
    done = _held(task).update(
        status=Status.FAILED,
        error_code=code[:64],
        error_message=message,
        finished_at=now,
        lease_expires_at=None,
        updated_at=now,
    )
    return bool(done)


def _backoff_seconds(attempt: int) -> float:
    base = settings.TASK_RETRY_BACKOFF_SECONDS * (2 ** max(0, attempt - 1))
    return min(settings.TASK_RETRY_BACKOFF_MAX_SECONDS, base) * random.uniform(0.5, 1.0)


def task_defer(*, task: ImageTask, error: UpstreamError) -> float | None:
    """A retryable failure: back to pending after a backoff, or failed when the attempts are used up.
    Returns the delay when a retry was scheduled."""
    if task.attempts >= task.attempts_limit:
        task_fail(
            task=task,
            code=error.code or "upstream_error",
            message=f"{error.message} (gave up after {task.attempts} attempts)",
        )
        return None
    delay = _backoff_seconds(task.attempts)
    now = timezone.now()
    moved = _held(task).update(
        status=Status.PENDING,
        error_code=error.code[:64],
        error_message=f"{error.message} (will retry)",
        next_attempt_at=now + timedelta(seconds=delay),
        lease_expires_at=None,
        updated_at=now,
    )
    return delay if moved else None


def generation_request(task: ImageTask) -> GenerationRequest:
    params = task.params or {}
    return GenerationRequest(
        task_id=task.id,
        model=task.model,
        prompt=task.prompt,
        width=params.get("width", 1024),
        height=params.get("height", 1024),
        seed=params.get("seed"),
        reference_images=tuple(params.get("image_urls", ())),
        options={key: params[key] for key in ("quality",) if key in params},
    )


def task_process(*, task_id: str) -> float | None:
    """One worker run of a task: claim it, generate, store the images, finish it. Returns a delay
    when the task should run again later (a retryable upstream error)."""
    task = task_claim(task_id=task_id)
    if task is None:
        return None
    provider = registry.provider_get(task.provider)
    try:
        images = provider.generate(generation_request(task))
        stored = images_store(task_id=task.id, attempt=task.attempts, images=images)
    except UpstreamError as error:
        if error.retryable:
            return task_defer(task=task, error=error)
        task_fail(task=task, code=error.code or "upstream_error", message=error.message)
        return None
    except Exception as exc:
        log.exception("Task %s failed unexpectedly", task.id)
        task_fail(
            task=task, code="internal_error", message=f"internal error while generating ({exc.__class__.__name__})"
        )
        return None
    if not task_complete(task=task, images=stored):
        # Canceled or taken over while we generated: the result is discarded.
        images_delete([image["name"] for image in stored])
    return None


def task_cancel(*, task_id: str) -> ImageTask:
    task = task_get(task_id=task_id)
    now = timezone.now()
    canceled = ImageTask.objects.filter(pk=task.pk, status__in=CANCELABLE_STATUSES).update(
        status=Status.CANCELED,
        error_code="canceled",
        error_message="canceled on request",
        finished_at=now,
        lease_expires_at=None,
        next_attempt_at=None,
        updated_at=now,
    )
    task.refresh_from_db()
    if not canceled and task.status != Status.CANCELED:
        raise Conflict(f"Task {task.id} is already {task.status} and cannot be canceled.")
    return task


def task_retry(*, task_id: str) -> ImageTask:
    """Operator's retry: a failed or canceled task goes back to pending with a fresh attempt budget."""
    task = task_get(task_id=task_id)
    now = timezone.now()
    with transaction.atomic():
        moved = ImageTask.objects.filter(pk=task.pk, status__in=RETRYABLE_STATUSES).update(
            status=Status.PENDING,
            attempts_limit=F("attempts") + settings.TASK_MAX_ATTEMPTS,
            error_code="",
            error_message="",
            result=None,
            finished_at=None,
            next_attempt_at=None,
            updated_at=now,
        )
        if not moved:
            task.refresh_from_db()
            raise Conflict(f"Task {task.id} is {task.status}; only failed or canceled tasks can be retried.")
        task_enqueue_on_commit(task_id=task.id)
    task.refresh_from_db()
    return task


def tasks_reconcile() -> dict:
    """Periodic repair (celery beat): enqueue pending tasks whose wake-up was lost, and take back
    tasks whose worker vanished (lease expired). Safe to run anywhere, any number of times."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.TASK_REQUEUE_AFTER_SECONDS)
    requeued = 0
    for task_id, next_at in ImageTask.objects.filter(status=Status.PENDING, updated_at__lt=stale).values_list(
        "id", "next_attempt_at"
    ):
        if next_at is None or next_at < stale:
            task_enqueue_on_commit(task_id=task_id)
            requeued += 1
    recovered = failed = 0
    for task in ImageTask.objects.filter(status=Status.PROCESSING, lease_expires_at__lt=now):
        lost = UpstreamError(
            "the worker running this task stopped before finishing", code="worker_lost", retryable=True
        )
        delay = task_defer(task=task, error=lost)
        if delay is None:
            failed += 1
        else:
            recovered += 1
            task_enqueue_on_commit(task_id=task.id, countdown=delay)
    return {"requeued": requeued, "recovered": recovered, "failed": failed}
