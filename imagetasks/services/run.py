"""A worker's turns at a task: take a slot and claim it, then submit (async upstream) or generate (sync
upstream); poll an async upstream until the images are there, and store them."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from jimeng_server import metrics
from jimeng_server.backoff import backoff_seconds
from providers import registry
from providers.base import GenerationRequest, Image, ItemError, UpstreamError, Video

from .. import cadence, storage
from ..capacity import capacity
from ..journal import submission_journal
from ..kinds import kind_get
from ..models import ImageTask, Status
from ..selectors import task_find
from . import sets
from .accounts import accounts_for_work, accounts_out
from .fair import user_full
from .lifecycle import task_claim, task_complete, task_fail, task_held, upstream_failed
from .scheduling import NextStep
from .slots import slot_release, task_park

log = logging.getLogger(__name__)


def generation_request(task: ImageTask) -> GenerationRequest:
    """The task as its provider reads it: the kind shapes its size, options and output."""
    params = task.params or {}
    shaped = kind_get(task.kind).generation(params)
    return GenerationRequest(
        task_id=task.id,
        model=task.model,
        prompt=task.prompt,
        width=shaped.width,
        height=shaped.height,
        seed=params.get("seed"),
        reference_images=tuple(params.get("image_urls", ())),
        options=shaped.options,
        account=task.account,
        output=shaped.output,
    )


def _poll_delay(task: ImageTask) -> float:
    elapsed = (timezone.now() - (task.submitted_at or timezone.now())).total_seconds()
    return cadence.poll_delay(task.provider, task.model, elapsed)


def _store_and_complete(task: ImageTask, images=(), videos=(), found_after: float | None = None) -> None:
    kind, params = kind_get(task.kind), task.params or {}
    images, videos = kind.outputs_kept(params, list(images)), kind.outputs_kept(params, list(videos))
    result = storage.outputs_store(
        task_id=task.id, attempt=task.attempts, images=images, videos=videos, skip=sets.kept_indexes(task)
    )
    if not videos:  # with the images of a set kept as they arrived
        result = sets.set_result(task, result)
    if found_after is not None:  # a generation that delivered what it promised teaches when to look
        cadence.generation_observed(task.provider, task.model, found_after)
    if not task_complete(task=task, result=result):
        # Canceled or taken over while we worked: the result is discarded.
        storage.files_delete(ImageTask(result=result).output_names)


def _outputs_message(images, videos) -> list[dict] | None:
    """Outputs given by URL, as a message can carry them; None when any came as bytes (stored at once)."""
    items = []
    for n, image in enumerate(images):
        index = n if image.index is None else image.index
        if isinstance(image, ItemError):
            items.append({"failed": index, "code": image.code, "message": image.message})
        elif image.data is not None:
            return None
        else:
            items.append({"image": image.url, "index": index})
    for video in videos:
        if video.data is not None or video.last_frame_data is not None:
            return None
        items.append({"video": video.url, "last_frame": video.last_frame_url})
    return items


def _outputs_read(items: list[dict]) -> tuple[list[Image], list[Video]]:
    images = [
        Image(url=item["image"], index=item.get("index"))
        if "image" in item
        else ItemError(index=item["failed"], code=item["code"], message=item["message"])
        for item in items
        if "image" in item or "failed" in item
    ]
    videos = [Video(url=item["video"], last_frame_url=item.get("last_frame")) for item in items if "video" in item]
    return images, videos


def _store_seconds(outputs: list[dict]) -> float:
    """How long storing these may take: every download at its deadline, and a margin."""
    videos = sum(1 for item in outputs if "video" in item)
    frames = sum(1 for item in outputs if item.get("last_frame"))
    images = sum(1 for item in outputs if "image" in item)
    return (
        videos * settings.VIDEO_DOWNLOAD_TIMEOUT_SECONDS
        + (images + frames) * settings.IMAGE_DOWNLOAD_TIMEOUT_SECONDS
        + 60
    )


def _outputs_keep(task: ImageTask, seq: int, images, videos, found_after: float | None) -> NextStep | None:
    """A generation is done: its slot is given back and what it made kept. Bytes in hand are stored
    here; outputs behind URLs are downloaded by the store step, on the I/O queue — a slow or large
    download never holds a worker process that generates (its message carries the URLs, and the task
    is not looked at meanwhile)."""
    skip = sets.kept_indexes(task)  # a set's images kept as they arrived
    if skip and not videos:  # a set under way: the rest of it (in hand) arrives the same way, one by one
        if not sets.items_arrived(
            task, [item for item in images if isinstance(item, ItemError) or item.data is not None]
        ):
            return None
        skip = sets.kept_indexes(task)
    images = [item for n, item in enumerate(images) if (n if item.index is None else item.index) not in skip]
    slot_release(task)  # the upstream's work is done: storing its outputs holds none of its concurrency
    outputs = _outputs_message(images, videos)
    if outputs is None or not outputs:
        _store_and_complete(task, images=images, videos=videos, found_after=found_after)
        return None
    busy_until = timezone.now() + timedelta(seconds=_store_seconds(outputs))
    ImageTask.objects.filter(pk=task.pk, status=Status.PROCESSING, polls=seq).update(
        next_attempt_at=busy_until, lease_expires_at=busy_until
    )
    payload = {"outputs": outputs, "tries": 0, "found_after": found_after}
    return NextStep("store", 0, seq, task.provider, payload=payload)


def task_store(*, task_id: str, seq: int, payload: dict) -> NextStep | None:
    """The store step: download, check and keep a finished generation's outputs, then complete the task.
    Only the step carrying the current `seq` acts. A download that may work later is tried again after
    a backoff, at most OUTPUT_STORE_TRIES times; an output that is not what it claims ends the task at
    once. Either way the generation is not submitted again (it was paid for)."""
    now = timezone.now()
    hold = timedelta(seconds=_store_seconds(payload["outputs"]))
    taken = ImageTask.objects.filter(pk=task_id, status=Status.PROCESSING, polls=seq).update(
        polls=seq + 1, lease_expires_at=now + hold, next_attempt_at=now + hold, updated_at=now
    )
    task = task_find(task_id=task_id) if taken else None
    if task is None:
        return None
    images, videos = _outputs_read(payload["outputs"])
    try:
        _store_and_complete(task, images=images, videos=videos, found_after=payload.get("found_after"))
        return None
    except UpstreamError as error:
        tries = payload["tries"] + 1
        if not error.retryable:
            task_fail(task=task, code=error.code or "bad_output", message=error.message)
            return None
        if tries >= settings.OUTPUT_STORE_TRIES:
            message = f"{error.message} (gave up after {tries} tries)"
            task_fail(task=task, code=error.code or "download_failed", message=message)
            return None
        delay = backoff_seconds(
            tries, base=settings.TASK_RETRY_BACKOFF_SECONDS, maximum=settings.TASK_RETRY_BACKOFF_MAX_SECONDS
        )
        log.info("Storing the outputs of task %s failed (%s); trying again in %.1f s", task_id, error.message, delay)
        later = timezone.now() + timedelta(seconds=delay) + hold
        ImageTask.objects.filter(pk=task_id, polls=seq + 1).update(next_attempt_at=later, lease_expires_at=later)
        return NextStep("store", delay, seq + 1, task.provider, payload={**payload, "tries": tries})


def _slot_take(task: ImageTask, accounts) -> str | None:
    """A slot for the task (the account it is on), or None: the task is parked, to be woken in its turn."""
    if user_full(task.provider, task.user_id):  # USER_MAX_RUNNING: it waits while others' tasks start
        task_park(task)
        if user_full(task.provider, task.user_id):  # one of theirs ending meanwhile saw nothing to wake
            return None
    account = capacity().acquire(task, accounts)
    if account is None:
        task_park(task)
        # A slot freed between the two lines above was given back by a holder that did not see this
        # task parked yet: look once more, so it is not left waiting for the next release.
        account = capacity().acquire(task, accounts)
    return account


def task_process(*, task_id: str) -> NextStep | None:
    """A worker's turn at a pending task: take a concurrency slot, claim it, then either submit it
    (async upstream: the poll chain takes over) or generate it (sync upstream)."""
    task = task_find(task_id=task_id)
    if task is None or task.status != Status.PENDING:
        return None
    provider = registry.provider_get(task.provider)
    accounts = accounts_for_work(provider)
    if not accounts:
        return _no_account(task, provider)
    account = _slot_take(task, accounts)
    if account is None:
        return None
    task.account = account
    claimed = task_claim(task_id=task_id, account=account)
    if claimed is None:
        if ImageTask.objects.filter(pk=task_id).values_list("status", flat=True).first() != Status.PROCESSING:
            capacity().release(task)  # a slot nobody runs; a processing task's slot belongs to its claimer
        return None
    task = claimed
    request = generation_request(task)
    try:
        if provider.style == "sync":
            return _generate(task, provider, request)
        upstream_task_id = provider.submit(request)
    except UpstreamError as error:
        return upstream_failed(task, error)
    except Exception as exc:
        log.exception("Task %s failed unexpectedly", task.id)
        task_fail(
            task=task, code="internal_error", message=f"internal error while generating ({exc.__class__.__name__})"
        )
        return None
    # Persist the upstream id at once: from here on, recovery polls it and never submits again. The
    # journal first (one Redis SET): a crash before the database write is recovered from it.
    metrics.ACCOUNT_SUBMITS.labels(task.provider, task.account).inc()
    now = timezone.now()
    submission_journal(task_id=task.id, attempt=task.attempts, upstream_task_id=upstream_task_id, at=now)
    delay = cadence.poll_delay(task.provider, task.model, 0)
    saved = task_held(task).update(
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


class _Abandoned(Exception):
    """The task stopped being this worker's while its images arrived (canceled): stop the generation."""


def _generate(task: ImageTask, provider, request: GenerationRequest) -> NextStep | None:
    """A synchronous generation. A set's images that arrive one by one are each kept as they come; one
    cut short after some were kept completes with those (sets.set_cut_short says why)."""

    def on_item(item) -> None:
        if not sets.item_arrived(task, item):
            raise _Abandoned

    try:
        items = provider.generate(request, on_item=on_item)
    except _Abandoned:
        return None
    except UpstreamError as error:
        if sets.set_cut_short(task, error.message):
            return None
        raise
    return _outputs_keep(task, task.polls, items, (), None)


def _no_account(task: ImageTask, provider) -> None:
    """Every account of the provider is out of rotation: the task fails at once, saying why."""
    reasons = "; ".join(f"{name}: {reason}" for name, reason in accounts_out(provider).items())
    claimed = task_claim(task_id=task.id, account="")
    if claimed is not None:
        message = f"no {provider.name} account is in rotation ({reasons}); an operator must put one back"
        task_fail(task=claimed, code="no_account", message=message)
    return None


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
    task = task_find(task_id=task_id)
    if task is None:  # deleted meanwhile
        return None
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
            return _outputs_keep(task, seq + 1, result.images, result.videos, waited)
        if result.images and not sets.items_arrived(task, result.images):  # a set's images so far
            return None
    except UpstreamError as error:
        if error.resubmit or not error.retryable:
            return upstream_failed(task, error)
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
