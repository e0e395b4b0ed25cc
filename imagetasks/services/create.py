"""Creating a task, in two steps (Zulip's check_*/do_*): `check_task_create` reads the request against
its model and kind and writes nothing; `do_task_create` reserves the user's limits and credits and
writes the row — in the outbox, from which a worker's dispatcher sends it on (services/outbox.py)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from jimeng_server.errors import Conflict, InvalidInput
from jimeng_server.ids import new_id
from jimeng_server.mongodb.lookups import string_indexed
from jimeng_server.outbound import OutboundBlocked, url_check
from providers import registry
from providers.specs import ModelSpec
from users.credits import credits_reserve, credits_settle, price
from users.services import user_exists, user_get_or_create_implicit

from .. import fastpath
from ..kinds import TaskRequest, kind_get, model_for_images, model_resolve
from ..models import ImageTask
from .limits import limits_give_back, limits_take


@dataclass(frozen=True)
class CheckedTask:
    """A create that passed every check: what `do_task_create` writes."""

    request: TaskRequest
    spec: ModelSpec
    provider: str
    prompt: str
    params: dict
    price: int  # credits a reservation holds (when the user's credits are on)


def check_task_create(request: TaskRequest) -> CheckedTask:
    """The request against its model and kind: prompt, references, the kind's options, the URLs it
    names. Writes nothing; InvalidInput saying what the model allows."""
    kind = kind_get(request.kind)
    spec = model_for_images(model_resolve(request.model, kind.name), len(request.reference_images))
    prompt = request.prompt.strip()
    _check_prompt_and_references(spec, prompt, len(request.reference_images))
    params = kind.params(spec, request)
    if request.seed is not None:
        params["seed"] = request.seed
    if request.reference_images:
        params["image_urls"] = list(request.reference_images)
    _check_urls(request)
    return CheckedTask(
        request=request,
        spec=spec,
        provider=registry.provider_choose(spec),
        prompt=prompt,
        params=params,
        price=task_price(spec, params),
    )


def _check_prompt_and_references(spec: ModelSpec, prompt: str, references: int) -> None:
    if len(prompt) > spec.max_prompt_chars:
        raise InvalidInput(
            f"prompt is {len(prompt)} characters long; {spec.id} accepts at most {spec.max_prompt_chars}."
        )
    if references and not spec.max_reference_images:
        raise InvalidInput(f"{spec.id} does not take reference images; leave image_urls out or pick a model that does.")
    if references > spec.max_reference_images:
        raise InvalidInput(f"{spec.id} accepts at most {spec.max_reference_images} reference images, got {references}.")
    if references < spec.min_reference_images:
        raise InvalidInput(f"{spec.id} needs at least {spec.min_reference_images} reference image(s) in image_urls.")


def _check_urls(request: TaskRequest) -> None:
    """The webhook and the reference images must be public http(s) URLs (checked again when fetched);
    references we stored ourselves (uploads) are our own URLs."""
    if request.webhook_url and not settings.WEBHOOK_SECRET:
        raise InvalidInput("This server sends no webhooks: its operator has not set WEBHOOK_SECRET.")
    references = () if request.references_ours else request.reference_images
    named = [("webhook_url", request.webhook_url), *((f"image_urls[{n}]", u) for n, u in enumerate(references))]
    for name, url in named:
        if url:
            try:
                url_check(url, must_resolve=False)
            except OutboundBlocked as exc:
                raise InvalidInput(f"{name} is not allowed: {exc}.") from None


def provider_for(spec: ModelSpec) -> str:
    """Which provider would run a new task of this model now (in live mode: its own, credentials or not)."""
    return spec.provider if settings.PROVIDER_MODE == "live" else registry.provider_choose(spec)


def task_price(spec: ModelSpec, params: dict) -> int:
    """What a task reserves: its model's price for as many units as one generation may deliver."""
    return price(spec.id, kind_get(spec.kind).reserved_units(spec, params))


def do_task_create(checked: CheckedTask) -> ImageTask:
    """The writes of a checked create: the user's limits and credits reserved, the row written (both
    given back if the row is not)."""
    request = checked.request
    taken = Conflict(f"User '{request.user_id}' already has a task with external_task_id '{request.external_task_id}'.")
    if request.external_task_id and _external_id_taken(request):
        raise taken
    reserved = limits_take(user_id=request.user_id)
    task_id = request.task_id or new_id()
    try:
        credits, reservation = credits_reserve(
            user_id=request.user_id, task_id=task_id, model=checked.spec.id, amount=checked.price
        )
    except BaseException:
        limits_give_back(reserved)
        raise
    try:
        return _task_insert(_row(checked, task_id, credits, reservation))
    except BaseException as exc:
        limits_give_back(reserved)
        credits_settle(reservation=reservation, delivered=0)
        if isinstance(exc, IntegrityError):  # the same external id, created concurrently
            raise taken from None
        raise


def task_create(request: TaskRequest) -> ImageTask:
    return do_task_create(check_task_create(request))


def _external_id_taken(request: TaskRequest) -> bool:
    return ImageTask.objects.filter(
        user_id=request.user_id,
        external_task_id=request.external_task_id,
        **string_indexed("user_id", "external_task_id"),
    ).exists()


def _row(checked: CheckedTask, task_id: str, credits: int, reservation: str) -> dict:
    request = checked.request
    return {
        "id": task_id,
        "user_id": request.user_id,
        "api_key": request.api_key,
        "external_task_id": request.external_task_id or None,
        "kind": checked.spec.kind,
        "provider": checked.provider,
        "model": checked.spec.id,
        "prompt": checked.prompt,
        "params": checked.params,
        "attempts_limit": settings.TASK_MAX_ATTEMPTS,
        "webhook_url": request.webhook_url,
        "webhook_events": request.webhook_events,
        "outbox_since": timezone.now(),  # the message is sent by a worker's dispatcher (services/outbox.py)
        "credits_reserved": credits,
        "credits_reservation": reservation,
    }


def _task_insert(row: dict) -> ImageTask:
    """Writes the task; its user is created first if the server has never seen them. The common
    case is one statement (the shortest hold of SQLite's one write lock): where the database itself
    refuses a task whose user does not exist (a foreign key, checked at once in autocommit), the
    INSERT is the check; elsewhere (MongoDB) the user is looked up first."""
    checked_by_insert = connection.features.supports_foreign_keys and connection.get_autocommit()
    if checked_by_insert or user_exists(user_id=row["user_id"]):
        try:
            return fastpath.task_insert(row)
        except IntegrityError:
            if not checked_by_insert:
                raise
            # No such user yet (or the same external id: then the second try raises it again).
    with transaction.atomic():  # a new user and their first task, or neither
        user_get_or_create_implicit(user_id=row["user_id"])
        return fastpath.task_insert(row)
