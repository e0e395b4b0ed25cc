"""Writes of image tasks: create, claim, run, complete, fail, cancel, retry, reconcile.

The database is the source of truth. Every status change is a conditional single-row update (the
row must still be in the status the caller saw), so duplicate deliveries, concurrent workers and an
operator's cancel can race without harm."""

from __future__ import annotations

import hashlib
import json
import logging
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from jimeng_server import metrics
from jimeng_server.errors import Conflict, InvalidInput, TooManyRequests
from jimeng_server.ids import new_id
from jimeng_server.outbound import OutboundBlocked, url_check
from providers import registry
from providers.base import GenerationRequest, UpstreamError
from providers.images import images_delete, images_store
from users.counters import counter_give_back, counter_take, counters_expired_delete
from users.models import UsageCounter
from users.services import user_get_or_create_implicit

from . import cadence
from .capacity import capacity
from .events import task_changed_on_commit
from .models import CANCELABLE_STATUSES, RETRYABLE_STATUSES, IdempotencyKey, ImageTask, Status
from .selectors import task_get
from .webhooks import webhook_dispatch, webhook_status_changed, webhooks_reconcile

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
    scale: float | None = None,
    flags: dict[str, bool] | None = None,
    webhook_url: str = "",
    webhook_events: str = "terminal",
    task_id: str | None = None,
    reference_images_ours: bool = False,
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
    flags = flags or {}
    if webhook_url and not settings.WEBHOOK_SECRET:
        raise InvalidInput("This server sends no webhooks: its operator has not set WEBHOOK_SECRET.")
    # Reference images we stored ourselves (OpenAI edits) need no check: our own media URLs.
    references_to_check = [] if reference_images_ours else reference_images
    for name, url in [("webhook_url", webhook_url)] + [
        (f"image_urls[{n}]", u) for n, u in enumerate(references_to_check)
    ]:
        if url:
            try:
                url_check(url, must_resolve=False)
            except OutboundBlocked as exc:
                raise InvalidInput(f"{name} is not allowed: {exc}.") from None
    registry.options_check(spec, scale=scale, flags=flags)
    provider = registry.provider_choose(spec)

    params = {"size": f"{width}x{height}", "width": width, "height": height, "quality": quality}
    if seed is not None:
        params["seed"] = seed
    if reference_images:
        params["image_urls"] = reference_images
    if scale is not None:
        params["scale"] = int(scale) if isinstance(spec.scale_range[0], int) else scale
    params.update(flags)
    taken = Conflict(f"User '{user_id}' already has a task with external_task_id '{external_task_id}'.")
    if external_task_id and ImageTask.objects.filter(user_id=user_id, external_task_id=external_task_id).exists():
        raise taken
    reserved = limits_take(user_id=user_id)
    try:
        with transaction.atomic():
            user = user_get_or_create_implicit(user_id=user_id)
            task = ImageTask.objects.create(
                id=task_id or new_id(),
                user=user,
                external_task_id=external_task_id,
                provider=provider,
                model=spec.id,
                prompt=prompt,
                params=params,
                attempts_limit=settings.TASK_MAX_ATTEMPTS,
                webhook_url=webhook_url,
                webhook_events=webhook_events,
            )
            task_enqueue_on_commit(task_id=task.id, provider=provider)
    except IntegrityError:  # the same external id, created concurrently
        limits_give_back(reserved)
        raise taken from None
    except BaseException:
        limits_give_back(reserved)
        raise
    return task


def _active_key(user_id: str) -> str:
    return f"active|{user_id}"


def limits_take(*, user_id: str) -> list[str]:
    """Reserve one task under the user's limits — tasks waiting or running at once, tasks per UTC day —
    each an atomic conditional write, so parallel creates cannot pass a limit together. Returns the
    counters taken, for `limits_give_back` when the task is not created after all."""
    now = timezone.now()
    taken: list[str] = []
    if settings.USER_MAX_ACTIVE_TASKS:
        if not counter_take(key=_active_key(user_id), limit=settings.USER_MAX_ACTIVE_TASKS):
            raise TooManyRequests(
                f"User '{user_id}' already has {settings.USER_MAX_ACTIVE_TASKS} tasks waiting or running; the limit "
                f"is {settings.USER_MAX_ACTIVE_TASKS}. Try again when some have finished.",
                retry_after=10,
            )
        taken.append(_active_key(user_id))
    if settings.USER_DAILY_TASK_QUOTA:
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        tomorrow = day_start + timedelta(days=1)
        key = f"day|{user_id}|{day_start.date().isoformat()}"
        if not counter_take(key=key, limit=settings.USER_DAILY_TASK_QUOTA, expires_at=tomorrow + timedelta(days=1)):
            limits_give_back(taken)
            raise TooManyRequests(
                f"User '{user_id}' has used today's quota of {settings.USER_DAILY_TASK_QUOTA} tasks; "
                "it renews at 00:00 UTC.",
                retry_after=int((tomorrow - now).total_seconds()) + 1,
            )
        taken.append(key)
    return taken


def limits_give_back(keys: list[str]) -> None:
    for key in keys:
        counter_give_back(key=key)


def active_counters_resync(stale) -> int:
    """Counters of active tasks left off by a crash between a task's end and its give-back: set to
    the number of the user's tasks waiting or running, if nothing changed the counter meanwhile."""
    fixed = 0
    counters = UsageCounter.objects.filter(key__startswith="active|", updated_at__lt=stale)
    for key, value, updated_at in counters.values_list("key", "value", "updated_at")[:200]:
        user_id = key.removeprefix("active|")
        actual = ImageTask.objects.filter(user_id=user_id, status__in=CANCELABLE_STATUSES).count()
        if actual != value:
            fixed += UsageCounter.objects.filter(pk=key, value=value, updated_at=updated_at).update(
                value=actual, updated_at=timezone.now()
            )
    return fixed


def task_create_idempotent(*, idempotency_key: str, fields: dict, scope: str = "") -> tuple[ImageTask, bool]:
    """`task_create` behind a client's Idempotency-Key: the first request with a key creates the
    task; a repeat with the same fields returns that task (created=False); a repeat with other
    fields is a conflict. Kept in the database, so it survives restarts."""
    task_id = new_id()
    existing = _idempotency_claim(
        key=idempotency_key, scope=scope, fingerprint=_fingerprint(fields), task_id=task_id, user_id=fields["user_id"]
    )
    if existing is not None:
        return existing, False
    try:
        return task_create(task_id=task_id, **fields), True
    except Exception:
        # A request that created nothing leaves its key free for a corrected retry.
        IdempotencyKey.objects.filter(pk=_key_id(scope, idempotency_key), task_id=task_id).delete()
        raise


def _key_id(scope: str, key: str) -> str:
    """Keys are kept per caller (scope: the API key that sent them), under a hash."""
    return hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()


def _fingerprint(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def _idempotency_claim(*, key: str, scope: str, fingerprint: str, task_id: str, user_id: str) -> ImageTask | None:
    """Record the key for the task about to be created; or, when the key is known, the task it
    created. The key row is written first (one document, unique), so two concurrent requests with
    one key cannot both create a task. A claim whose request died before creating its task is taken
    over after IDEMPOTENCY_CLAIM_SECONDS; a key older than IDEMPOTENCY_KEY_TTL_HOURS is forgotten."""
    key_id = _key_id(scope, key)
    try:
        with transaction.atomic():  # a savepoint: the duplicate-key error must not spoil an outer transaction
            IdempotencyKey.objects.create(
                id=key_id, key=key[:255], fingerprint=fingerprint, task_id=task_id, user_id=user_id
            )
        return None
    except IntegrityError:
        pass
    record = IdempotencyKey.objects.filter(pk=key_id).first()
    if record is None:  # removed meanwhile (its request failed): take it now
        return _idempotency_claim(key=key, scope=scope, fingerprint=fingerprint, task_id=task_id, user_id=user_id)
    now = timezone.now()
    age = (now - record.created_at).total_seconds()
    expired = age > settings.IDEMPOTENCY_KEY_TTL_HOURS * 3600
    task = None if expired else ImageTask.objects.filter(pk=record.task_id).first()
    if expired or (task is None and age > settings.IDEMPOTENCY_CLAIM_SECONDS):
        # Take the key over from the request that held it, unless another request just did.
        if IdempotencyKey.objects.filter(pk=key_id, task_id=record.task_id).update(
            fingerprint=fingerprint, task_id=task_id, user_id=user_id, created_at=now
        ):
            return None
        return _idempotency_claim(key=key, scope=scope, fingerprint=fingerprint, task_id=task_id, user_id=user_id)
    if record.fingerprint != fingerprint:
        raise Conflict(f"Idempotency-Key '{key}' was already used with a different request body.")
    if task is None:
        retry_in = int(settings.IDEMPOTENCY_CLAIM_SECONDS - age) + 1
        raise Conflict(
            f"A request with Idempotency-Key '{key}' is still being processed; retry in {retry_in} s.",
        )
    return task


def records_expired_delete() -> dict:
    """Periodic clean-up: idempotency keys past their TTL, counters of past days and windows."""
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    return {
        "idempotency_keys": IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()[0],
        "counters": counters_expired_delete(),
    }


@dataclass(frozen=True)
class NextStep:
    """What a worker run asks for next: run `process` again (retry, or wait for capacity) or `poll`
    the upstream, after `delay` seconds. `seq` is the poll chain's fencing token."""

    action: Literal["process", "poll"]
    delay: float
    seq: int = 0
    provider: str = ""


def _queue_for(provider: str) -> str:
    """Synchronous upstreams block for the whole generation: they run on the I/O (thread-pool) queue."""
    style = registry.provider_get(provider).style if provider in registry.PROVIDERS else "async"
    return settings.CELERY_IO_QUEUE if style == "sync" else settings.CELERY_TASK_DEFAULT_QUEUE


# Redis serves a queue's higher priorities first (0 is the highest): a poll, which finishes a running
# generation and frees its slot, never waits behind a backlog of new tasks. (The filesystem broker
# has no priorities; it does not need them at its scale.)
POLL_PRIORITY, PROCESS_PRIORITY = 0, 6


def task_schedule(*, task_id: str, step: NextStep) -> None:
    """Send the Celery message for a step. Broker failures are logged, not raised: the row says what
    is due, and the reconciler sends it again."""
    from .tasks import poll_image_task, process_image_task

    try:
        if step.action == "poll":
            poll_image_task.apply_async(
                (task_id, step.seq), countdown=step.delay or None, priority=POLL_PRIORITY, retry=False
            )
        else:
            process_image_task.apply_async(
                (task_id,),
                countdown=step.delay or None,
                queue=_queue_for(step.provider),
                priority=PROCESS_PRIORITY,
                retry=False,
            )
    except Exception:
        log.warning("Could not enqueue %s of task %s; the reconciler will", step.action, task_id, exc_info=True)


def task_enqueue_on_commit(*, task_id: str, provider: str, step: NextStep | None = None) -> None:
    """Wake a worker for this task once the row it will read is committed."""
    step = step or NextStep("process", 0, provider=provider)
    transaction.on_commit(lambda: task_schedule(task_id=task_id, step=step))


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
        waiting_since=None,
        updated_at=now,
    )
    if not claimed:
        return None
    task = ImageTask.objects.get(pk=task_id)
    webhook_status_changed(task)
    task_changed_on_commit(task_id)
    return task


def _held(task: ImageTask):
    """The row, as long as it is still this claim's: processing, and not re-claimed since."""
    return ImageTask.objects.filter(pk=task.pk, status=Status.PROCESSING, attempts=task.attempts)


def _release(task: ImageTask) -> None:
    """Give the concurrency slot back, and wake the oldest task waiting for one."""
    capacity().release(task)
    tasks_wake(provider=task.provider, model=task.model, count=1) or tasks_wake(provider=task.provider, count=1)


def _park(task_id: str) -> None:
    """No free slot: the task waits, pending, until a slot frees (see `tasks_wake`)."""
    ImageTask.objects.filter(pk=task_id, status=Status.PENDING).update(
        waiting_since=timezone.now(), next_attempt_at=None, updated_at=timezone.now()
    )


def tasks_wake(*, provider: str, count: int, model: str | None = None) -> int:
    """Wake up to `count` of the oldest tasks waiting for a slot of this provider (and model, if
    given). Each is unparked by a conditional update first, so two processes freeing slots at once
    wake two different tasks."""
    woken = 0
    waiting = ImageTask.objects.filter(provider=provider, waiting_since__isnull=False, status=Status.PENDING)
    if model is not None:
        waiting = waiting.filter(model=model)
    while woken < count:
        candidates = list(waiting.order_by("waiting_since").values_list("id", flat=True)[: count - woken])
        if not candidates:
            break
        for task_id in candidates:
            if waiting.filter(pk=task_id).update(waiting_since=None, updated_at=timezone.now()):
                task_enqueue_on_commit(task_id=task_id, provider=provider)
                woken += 1
    return woken


def _slot_free(task: ImageTask, hold_seconds: float = 0) -> None:
    """Done with the slot: given back, or — after a submit that may have been accepted upstream —
    left taken for `hold_seconds`, so the cap also counts a generation we lost sight of."""
    if hold_seconds:
        capacity().hold(task, hold_seconds)
    else:
        _release(task)


def _end(task: ImageTask, status: Status, *, hold_seconds: float = 0, **fields) -> bool:
    """The one way a claimed task ends (completed or failed): a conditional update on the claim,
    then its slot back and its webhook on its way."""
    now = timezone.now()
    done = _held(task).update(
        status=status,
        finished_at=now,
        lease_expires_at=None,
        next_attempt_at=None,
        webhook_due=bool(task.webhook_url),
        updated_at=now,
        **fields,
    )
    if done:
        _ended(task, hold_seconds)
    return bool(done)


def _ended(task: ImageTask, hold_seconds: float = 0) -> None:
    task_changed_on_commit(task.id)
    if settings.USER_MAX_ACTIVE_TASKS:
        counter_give_back(key=_active_key(task.user_id))
    _slot_free(task, hold_seconds)
    if task.webhook_url:
        webhook_dispatch(task_id=task.id)


def task_complete(*, task: ImageTask, images: list[dict]) -> bool:
    done = _end(task, Status.COMPLETED, result={"images": images}, error_code="", error_message="")
    if done:
        seconds = (timezone.now() - (task.submitted_at or task.started_at or task.created_at)).total_seconds()
        metrics.GENERATION_SECONDS.labels(task.provider, task.model).observe(seconds)
        if task.submitted_at:  # an async upstream: its time teaches the poll cadence
            cadence.generation_observed(task.provider, task.model, seconds)
    return done


def task_fail(*, task: ImageTask, code: str, message: str, hold_seconds: float = 0) -> bool:
    done = _end(task, Status.FAILED, hold_seconds=hold_seconds, error_code=code[:64], error_message=message)
    if done:
        metrics.FAILURES.labels(task.provider, code[:64]).inc()
    return done


def _backoff_seconds(attempt: int) -> float:
    base = settings.TASK_RETRY_BACKOFF_SECONDS * (2 ** max(0, attempt - 1))
    return min(settings.TASK_RETRY_BACKOFF_MAX_SECONDS, base) * random.uniform(0.5, 1.0)


def _in_flight_hold(error: UpstreamError) -> float:
    return settings.CAPACITY_IN_FLIGHT_HOLD_SECONDS if error.in_flight else 0


def task_defer(*, task: ImageTask, error: UpstreamError) -> NextStep | None:
    """A retryable failure: back to pending after a backoff (a new generation next time), or failed
    when the attempts are used up. Returns the step to schedule when a retry is due."""
    hold = _in_flight_hold(error)
    if task.attempts >= task.attempts_limit:
        task_fail(
            task=task,
            code=error.code or "upstream_error",
            message=f"{error.message} (gave up after {task.attempts} attempts)",
            hold_seconds=hold,
        )
        return None
    delay = max(_backoff_seconds(task.attempts), hold)
    now = timezone.now()
    moved = _held(task).update(
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
    metrics.RETRIES.labels(task.provider, error.code or "upstream_error").inc()
    task_changed_on_commit(task.id)
    _slot_free(task, hold)
    return NextStep("process", delay, provider=task.provider)


def _upstream_failed(task: ImageTask, error: UpstreamError) -> NextStep | None:
    if error.resubmit and task.resubmits >= settings.TASK_MAX_RESUBMITS:
        message = f"{error.message} (already submitted again {task.resubmits} time(s))"
        task_fail(task=task, code=error.code or "upstream_error", message=message)
        return None
    if error.retryable:
        return task_defer(task=task, error=error)
    task_fail(
        task=task, code=error.code or "upstream_error", message=error.message, hold_seconds=_in_flight_hold(error)
    )
    return None


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
        options={key: params[key] for key in ("quality", "scale", "force_single", "use_pre_llm") if key in params},
    )


def _poll_delay(task: ImageTask) -> float:
    elapsed = (timezone.now() - (task.submitted_at or timezone.now())).total_seconds()
    return cadence.poll_delay(task.provider, task.model, elapsed)


def _store_and_complete(task: ImageTask, images) -> None:
    stored = images_store(task_id=task.id, attempt=task.attempts, images=list(images))
    if not task_complete(task=task, images=stored):
        # Canceled or taken over while we worked: the result is discarded.
        images_delete([image["name"] for image in stored])


def task_process(*, task_id: str) -> NextStep | None:
    """A worker's turn at a pending task: take a concurrency slot, claim it, then either submit it
    (async upstream: the poll chain takes over) or generate it (sync upstream)."""
    task = ImageTask.objects.filter(pk=task_id).first()
    if task is None or task.status != Status.PENDING:
        return None
    if not capacity().acquire(task):
        _park(task_id)
        # A slot freed between the two lines above was given back by a holder that did not see this
        # task parked yet: look once more, so it is not left waiting for the next release.
        if not capacity().acquire(task):
            return None
    claimed = task_claim(task_id=task_id)
    if claimed is None:
        if ImageTask.objects.filter(pk=task_id).values_list("status", flat=True).first() != Status.PROCESSING:
            capacity().release(task)  # a slot nobody runs; a processing task's slot belongs to its claimer
        return None
    task = claimed
    provider = registry.provider_get(task.provider)
    request = generation_request(task)
    try:
        if provider.style == "sync":
            _store_and_complete(task, provider.generate(request))
            return None
        upstream_task_id = provider.submit(request)
    except UpstreamError as error:
        return _upstream_failed(task, error)
    except Exception as exc:
        log.exception("Task %s failed unexpectedly", task.id)
        task_fail(
            task=task, code="internal_error", message=f"internal error while generating ({exc.__class__.__name__})"
        )
        return None
    # Persist the upstream id at once: from here on, recovery polls it and never submits again.
    now = timezone.now()
    delay = cadence.poll_delay(task.provider, task.model, 0)
    saved = _held(task).update(
        upstream_task_id=upstream_task_id,
        submitted_at=now,
        next_attempt_at=now + timedelta(seconds=delay),
        lease_expires_at=now + timedelta(seconds=settings.TASK_LEASE_SECONDS),
        updated_at=now,
    )
    if not saved:  # canceled while submitting: the upstream is told to stop what it just accepted
        capacity().release(task)
        if provider.supports_cancel:
            try:
                provider.cancel(request, upstream_task_id)
            except UpstreamError as error:
                log.info("Upstream cancel of task %s failed: %s", task.id, error.message)
        return None
    return NextStep("poll", delay, task.polls, task.provider)


def task_poll(*, task_id: str, seq: int) -> NextStep | None:
    """One look at an upstream generation. Only the poll carrying the current `seq` acts, so duplicate
    or stale poll messages fall away."""
    now = timezone.now()
    advanced = (
        ImageTask.objects.filter(pk=task_id, status=Status.PROCESSING, polls=seq)
        .exclude(upstream_task_id="")
        .update(polls=seq + 1, lease_expires_at=now + timedelta(seconds=settings.TASK_LEASE_SECONDS), updated_at=now)
    )
    if not advanced:
        return None
    task = ImageTask.objects.get(pk=task_id)
    capacity().refresh(task)
    waited = (now - (task.submitted_at or now)).total_seconds()
    if waited > settings.TASK_DEADLINE_SECONDS:
        task_fail(
            task=task,
            code="timeout",
            message=f"timed out after {int(waited)} s waiting for the {task.provider} upstream",
        )
        return None
    provider = registry.provider_get(task.provider)
    try:
        result = provider.poll(generation_request(task), task.upstream_task_id)
        if result.done:
            _store_and_complete(task, result.images)
            return None
    except UpstreamError as error:
        if error.resubmit or not error.retryable:
            return _upstream_failed(task, error)
        # A passing failure of the poll itself (throttled, timeout): the generation goes on; look again.
        log.info("Poll of task %s failed (%s); polling again", task.id, error.message)
    except Exception as exc:
        log.exception("Poll of task %s failed unexpectedly", task.id)
        task_fail(task=task, code="internal_error", message=f"internal error while polling ({exc.__class__.__name__})")
        return None
    delay = _poll_delay(task)
    ImageTask.objects.filter(pk=task.pk, polls=seq + 1).update(
        next_attempt_at=timezone.now() + timedelta(seconds=delay)
    )
    return NextStep("poll", delay, seq + 1, task.provider)


def task_cancel(*, task_id: str, owner: str | None = None) -> ImageTask:
    task = task_get(task_id=task_id, owner=owner)
    now = timezone.now()
    canceled = ImageTask.objects.filter(pk=task.pk, status__in=CANCELABLE_STATUSES).update(
        status=Status.CANCELED,
        error_code="canceled",
        error_message="canceled on request",
        finished_at=now,
        lease_expires_at=None,
        next_attempt_at=None,
        webhook_due=bool(task.webhook_url),
        updated_at=now,
    )
    task.refresh_from_db()
    if canceled:
        _ended(task)
        if task.upstream_task_id and registry.provider_get(task.provider).supports_cancel:
            transaction.on_commit(lambda: _send_upstream_cancel(task.id))
    elif task.status != Status.CANCELED:
        raise Conflict(f"Task {task.id} is already {task.status} and cannot be canceled.")
    return task


def _send_upstream_cancel(task_id: str) -> None:
    from .tasks import cancel_upstream_task

    try:
        cancel_upstream_task.apply_async((task_id,), retry=False)
    except Exception:
        log.warning("Could not enqueue the upstream cancel of task %s", task_id, exc_info=True)


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
    """Operator's retry: a failed or canceled task goes back to pending with a fresh attempt budget."""
    task = task_get(task_id=task_id, owner=owner)
    if task.status not in RETRYABLE_STATUSES:
        raise Conflict(f"Task {task.id} is {task.status}; only failed or canceled tasks can be retried.")
    reserved = limits_take(user_id=task.user_id)  # a retry is a new task for the user's limits
    now = timezone.now()
    with transaction.atomic():
        # Conditional on the status and attempt count just read: a concurrent retry or claim wins.
        moved = ImageTask.objects.filter(pk=task.pk, status__in=RETRYABLE_STATUSES, attempts=task.attempts).update(
            status=Status.PENDING,
            attempts_limit=task.attempts + settings.TASK_MAX_ATTEMPTS,
            upstream_task_id="",
            submitted_at=None,
            error_code="",
            error_message="",
            result=None,
            finished_at=None,
            next_attempt_at=None,
            updated_at=now,
        )
        if moved:
            task_enqueue_on_commit(task_id=task.id, provider=task.provider)
            task_changed_on_commit(task.id)
    task.refresh_from_db()
    if not moved:
        limits_give_back(reserved)
        raise Conflict(f"Task {task.id} is {task.status}; only failed or canceled tasks can be retried.")
    return task


def tasks_reconcile() -> dict:
    """Periodic repair (celery beat). Safe to run anywhere, any number of times:
    - a pending task whose wake-up was lost is enqueued again;
    - a processing task with an upstream id whose poll is overdue gets a poll (never a new submit);
    - a processing task without one whose worker vanished (lease expired) goes back to pending;
    - a concurrency slot still counted for a task that is not running is given back."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.TASK_REQUEUE_AFTER_SECONDS)
    report = {"requeued": 0, "polled": 0, "recovered": 0, "failed": 0, "released": 0, "woken": 0}
    report["webhooks"] = webhooks_reconcile(stale)
    report["counters"] = active_counters_resync(stale)
    pending = ImageTask.objects.filter(status=Status.PENDING, updated_at__lt=stale, waiting_since__isnull=True)
    for task_id, provider, next_at in pending.values_list("id", "provider", "next_attempt_at"):
        if next_at is None or next_at < stale:
            task_enqueue_on_commit(task_id=task_id, provider=provider)
            report["requeued"] += 1
    processing = ImageTask.objects.filter(status=Status.PROCESSING)
    overdue_polls = processing.exclude(upstream_task_id="").filter(
        Q(next_attempt_at__lt=stale) | Q(lease_expires_at__lt=now)
    )
    for task in overdue_polls:
        extended = ImageTask.objects.filter(pk=task.pk, status=Status.PROCESSING, polls=task.polls).update(
            next_attempt_at=now, lease_expires_at=now + timedelta(seconds=settings.TASK_LEASE_SECONDS)
        )
        if extended:
            task_enqueue_on_commit(
                task_id=task.id, provider=task.provider, step=NextStep("poll", 0, task.polls, task.provider)
            )
            report["polled"] += 1
    for task in processing.filter(upstream_task_id="", lease_expires_at__lt=now):
        lost = UpstreamError(
            "the worker running this task stopped before finishing", code="worker_lost", retryable=True
        )
        step = task_defer(task=task, error=lost)
        if step is None:
            report["failed"] += 1
        else:
            report["recovered"] += 1
            task_enqueue_on_commit(task_id=task.id, provider=task.provider, step=step)
    # A slot still counted for a task nobody runs (its holder crashed right after finishing it).
    for task in ImageTask.objects.filter(holds_slot=True, updated_at__lt=stale).exclude(status=Status.PROCESSING):
        capacity().release(task)
        report["released"] += 1
    report["woken"] = _wake_for_free_slots()
    return report


def _wake_for_free_slots() -> int:
    """Wake-ups lost with a crashed worker or a flushed broker: as many waiting tasks as each
    provider has free slots (a task blocked by its model's cap parks again)."""
    woken = 0
    for provider in registry.PROVIDERS:  # a few, each one indexed lookup when nothing waits
        cap = settings.UPSTREAM_CONCURRENCY.get(provider, 0)
        free = cap - capacity().in_use(provider) if cap else settings.RECONCILE_WAKE_BATCH
        woken += tasks_wake(provider=provider, count=max(0, min(free, settings.RECONCILE_WAKE_BATCH)))
    return woken
