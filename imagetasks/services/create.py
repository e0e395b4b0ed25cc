"""Creating a task: validated against its model, limits reserved, and written — in the outbox, from
which a worker's dispatcher sends it on (services/outbox.py); behind an Idempotency-Key, at most once
per key."""

from __future__ import annotations

import functools
import hashlib
import json

from django.conf import settings
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import JSONField
from django.utils import timezone

from jimeng_server.errors import Conflict, InvalidInput
from jimeng_server.ids import new_id
from jimeng_server.mongodb.lookups import string_indexed
from jimeng_server.outbound import OutboundBlocked, url_check
from providers import registry
from users.credits import credits_reserve, credits_settle, price
from users.services import user_exists, user_get_or_create_implicit

from ..models import IdempotencyKey, ImageTask
from .limits import limits_give_back, limits_take


def task_create(
    *,
    user_id: str,
    prompt: str,
    model: str | None = None,
    kind: str = "image",
    size: str | None = None,
    quality: str = "standard",
    seed: int | None = None,
    external_task_id: str = "",
    reference_images: list[str] | None = None,
    scale: float | None = None,
    flags: dict[str, bool] | None = None,
    duration: int | None = None,
    aspect_ratio: str | None = None,
    resolution: str | None = None,
    return_last_frame: bool = False,
    webhook_url: str = "",
    webhook_events: str = "terminal",
    task_id: str | None = None,
    reference_images_ours: bool = False,
) -> ImageTask:
    """A new image task (size, quality, scale, flags) or video task (duration, aspect_ratio,
    resolution, return_last_frame), checked against its model's limits."""
    reference_images = list(reference_images or [])
    spec = registry.model_for_images(registry.model_resolve(model, kind), len(reference_images))
    prompt = prompt.strip()
    if len(prompt) > spec.max_prompt_chars:
        raise InvalidInput(
            f"prompt is {len(prompt)} characters long; {spec.id} accepts at most {spec.max_prompt_chars}."
        )
    if reference_images and not spec.max_reference_images:
        raise InvalidInput(f"{spec.id} does not take reference images; leave image_urls out or pick a model that does.")
    if len(reference_images) > spec.max_reference_images:
        raise InvalidInput(
            f"{spec.id} accepts at most {spec.max_reference_images} reference images, got {len(reference_images)}."
        )
    if len(reference_images) < spec.min_reference_images:
        raise InvalidInput(f"{spec.id} needs at least {spec.min_reference_images} reference image(s) in image_urls.")
    if spec.kind == "video":
        image_only = [name for name, value in (("size", size), ("scale", scale)) if value is not None]
        image_only += list(flags or {}) + (["quality"] if quality != "standard" else [])
        if image_only:
            raise InvalidInput(
                f"{spec.id} makes a video: it takes duration, aspect_ratio and resolution, not {', '.join(image_only)}."
            )
        video = registry.video_check(
            spec, duration=duration, ratio=aspect_ratio, resolution=resolution, images=len(reference_images)
        )
        if return_last_frame and not spec.last_frame:
            raise InvalidInput(f"{spec.id} does not return its last frame; leave return_last_frame out.")
        params = {key: value for key, value in video.items() if value is not None}
        if return_last_frame:
            params["return_last_frame"] = True
    else:
        video_only = [name for name, value in (("duration", duration), ("aspect_ratio", aspect_ratio)) if value]
        video_only += [
            name for name, value in (("resolution", resolution), ("return_last_frame", return_last_frame)) if value
        ]
        if video_only:
            raise InvalidInput(
                f"{', '.join(video_only)}: only for video tasks (type 'video', or /api/v1/ai/video/task)."
            )
        width, height = registry.size_parse(spec, size)
        registry.options_check(spec, scale=scale, flags=flags or {})
        params = {"size": f"{width}x{height}", "width": width, "height": height, "quality": quality}
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
    provider = registry.provider_choose(spec)

    if seed is not None:
        params["seed"] = seed
    if reference_images:
        params["image_urls"] = reference_images
    if scale is not None:
        params["scale"] = int(scale) if isinstance(spec.scale_range[0], int) else scale
    params.update(flags or {})
    taken = Conflict(f"User '{user_id}' already has a task with external_task_id '{external_task_id}'.")
    if (
        external_task_id
        and ImageTask.objects.filter(
            user_id=user_id, external_task_id=external_task_id, **string_indexed("user_id", "external_task_id")
        ).exists()
    ):
        raise taken
    reserved = limits_take(user_id=user_id)
    task_id = task_id or new_id()
    try:
        credits, reservation = credits_reserve(
            user_id=user_id, task_id=task_id, model=spec.id, amount=task_price(spec.id, params)
        )
    except BaseException:
        limits_give_back(reserved)
        raise
    row = {
        "id": task_id,
        "user_id": user_id,
        "external_task_id": external_task_id or None,
        "kind": spec.kind,
        "provider": provider,
        "model": spec.id,
        "prompt": prompt,
        "params": params,
        "attempts_limit": settings.TASK_MAX_ATTEMPTS,
        "webhook_url": webhook_url,
        "webhook_events": webhook_events,
        "outbox_since": timezone.now(),  # the message is sent by a worker's dispatcher (services/outbox.py)
        "credits_reserved": credits,
        "credits_reservation": reservation,
    }
    try:
        task = _task_insert(row)
    except BaseException as exc:
        limits_give_back(reserved)
        credits_settle(reservation=reservation, delivered=0)
        if isinstance(exc, IntegrityError):  # the same external id, created concurrently
            raise taken from None
        raise
    return task


def task_price(model: str, params: dict) -> int:
    """What a task reserves: its model's price for as many images as one generation may return (a
    video counts as one)."""
    spec = registry.model_resolve(model)
    return price(spec.id, 1 if params.get("force_single") or spec.kind == "video" else spec.max_images)


def _task_insert(row: dict) -> ImageTask:
    """Writes the task; its user is created first if the server has never seen them. The common
    case is one statement (the shortest hold of SQLite's one write lock): where the database itself
    refuses a task whose user does not exist (a foreign key, checked at once in autocommit), the
    INSERT is the check; elsewhere (MongoDB) the user is looked up first."""
    checked_by_insert = connection.features.supports_foreign_keys and connection.get_autocommit()
    if checked_by_insert or user_exists(user_id=row["user_id"]):
        try:
            return _insert(row)
        except IntegrityError:
            if not checked_by_insert:
                raise
            # No such user yet (or the same external id: then the second try raises it again).
    with transaction.atomic():  # a new user and their first task, or neither
        user_get_or_create_implicit(user_id=row["user_id"])
        return _insert(row)


def _insert(row: dict) -> ImageTask:
    """The task as a new row. On SQL databases the INSERT statement is built once per process (the ORM
    building it again for every create was a tenth of a create's time), and each value is prepared
    as the ORM would: text, numbers, flags and NULL as they are (outside JSON fields), the rest (times,
    JSON) by their field."""
    if connection.vendor == "mongodb":
        task = ImageTask(**row)
        task.save(force_insert=True)
        return task
    now = timezone.now()
    values, params = [], []
    for field, automatic, json_field in _insert_fields():
        if field.attname in row:
            value = row[field.attname]
        else:
            value = now if automatic else field.get_default()
        values.append(value)
        plain = value is None or (type(value) in _PLAIN and not json_field)
        params.append(value if plain else field.get_db_prep_save(value, connection))
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(connection.alias), params)
    return ImageTask.from_db(connection.alias, None, values)


_PLAIN = frozenset({str, int, bool})


@functools.cache
def _insert_fields() -> tuple:
    return tuple(
        (
            field,
            bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)),
            isinstance(field, JSONField),
        )
        for field in ImageTask._meta.concrete_fields
    )


@functools.cache
def _insert_sql(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    columns = [quote(field.column) for field, _, _ in _insert_fields()]
    marks = ", ".join(["%s"] * len(columns))
    return f"INSERT INTO {quote(ImageTask._meta.db_table)} ({', '.join(columns)}) VALUES ({marks})"


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
