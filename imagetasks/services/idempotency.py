"""A create behind a client's Idempotency-Key: at most one task per key (and caller), whatever repeats
or races; the key is kept in the database, so it survives restarts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from jimeng_server.errors import Conflict
from jimeng_server.ids import new_id

from ..kinds import TaskRequest
from ..models import IdempotencyKey, ImageTask
from .create import task_create


def task_create_idempotent(*, idempotency_key: str, request: TaskRequest, scope: str = "") -> tuple[ImageTask, bool]:
    """`task_create` behind a client's Idempotency-Key: the first request with a key creates the
    task; a repeat with the same fields returns that task (created=False); a repeat with other
    fields is a conflict. Kept in the database, so it survives restarts."""
    task_id = new_id()
    fingerprint = _fingerprint(request)
    existing = _idempotency_claim(
        key=idempotency_key, scope=scope, fingerprint=fingerprint, task_id=task_id, user_id=request.user_id
    )
    if existing is not None:
        return existing, False
    try:
        return task_create(replace(request, task_id=task_id)), True
    except Exception:
        # A request that created nothing leaves its key free for a corrected retry.
        IdempotencyKey.objects.filter(pk=_key_id(scope, idempotency_key), task_id=task_id).delete()
        raise


def _key_id(scope: str, key: str) -> str:
    """Keys are kept per caller (scope: the API key that sent them), under a hash."""
    return hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()


def _fingerprint(request: TaskRequest) -> str:
    fields = {name: value for name, value in asdict(request).items() if name != "task_id"}
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
