"""Images as they are made: a set's images (a Seedream group generation streamed, the local provider's
set) each kept the moment it arrives, shown at once — polls and the task's detail list the images so
far while it is `processing`, its event stream sends an `image` event, and a webhook asking for every
change gets `task.image`.

While a task runs, its result holds what this attempt kept so far (`attempt` says which). A set ends
with every image it delivered, and a failed item listed with its reason (not charged). Cut short — the
stream broken, or the worker killed mid-stream (that stream is gone for good) — a set that delivered
at least one image completes with those, `partial: true`; the missing ones are not generated again: a
new generation would not belong to the set (same prompt, other faces), and the upstream charged for
every image it made. A set that delivered none goes the way of any failed generation."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from providers.base import Image, ItemError, UpstreamError

from .. import storage
from ..events import task_changed_on_commit
from ..models import ImageTask
from .lifecycle import task_complete, task_held
from .webhooks import webhook_image

log = logging.getLogger(__name__)


def kept_so_far(task: ImageTask) -> dict:
    """What this attempt of the task kept before the end: `{"images": [...], "errors": [...]}`."""
    result = task.result or {}
    if result.get("attempt") != task.attempts:
        return {"images": [], "errors": []}
    return {"images": list(result.get("images", [])), "errors": list(result.get("errors", []))}


def kept_indexes(task: ImageTask) -> frozenset[int]:
    kept = kept_so_far(task)
    return frozenset(entry["index"] for entry in kept["images"] + kept["errors"])


def item_arrived(task: ImageTask, item: Image | ItemError) -> bool:
    """Keep one image of a set (or one failed item's reason) while the task runs. False when the task
    is no longer this worker's (canceled meanwhile): what was just stored is deleted, and the caller
    stops."""
    if item.index is None or item.index in kept_indexes(task):
        return True
    kept = kept_so_far(task)
    entry = None
    if isinstance(item, Image):
        try:
            entry = storage.image_store(task_id=task.id, attempt=task.attempts, image=item)
        except UpstreamError as error:  # this one could not be kept (a bad or lost download): listed, not charged
            item = ItemError(index=item.index, code=error.code or "store_failed", message=error.message)
    if entry is None:
        kept["errors"] = [*kept["errors"], storage.item_error(item)]
    else:
        kept["images"] = [*kept["images"], entry]
    result = {**kept, "attempt": task.attempts}
    now = timezone.now()
    saved = task_held(task).update(
        result=result, updated_at=now, lease_expires_at=now + timedelta(seconds=settings.TASK_LEASE_SECONDS)
    )
    if not saved:
        if entry is not None:
            storage.files_delete([entry["name"]])
        return False
    task.result = result
    task_changed_on_commit(task.id)
    if entry is not None:
        webhook_image(task, entry)
    return True


def items_arrived(task: ImageTask, items) -> bool:
    return all(item_arrived(task, item) for item in items)


def set_result(task: ImageTask, result: dict, *, cut_short: bool = False) -> dict:
    """A set's final result: what was kept as it arrived and what the end brought (`result`), in the
    order of the set, with how many were asked for and whether any is missing."""
    kept = kept_so_far(task)
    images = sorted(kept["images"] + result.get("images", []), key=lambda entry: entry.get("index", 0))
    errors = sorted(kept["errors"] + result.get("errors", []), key=lambda entry: entry["index"])
    requested = int((task.params or {}).get("n") or 1)
    if requested == 1 and not errors and not cut_short:
        return {"images": images}
    short = cut_short and len(images) + len(errors) < requested  # (cut after its last image: whole)
    return {"images": images, "errors": errors, "requested": requested, "partial": bool(errors) or short}


def set_cut_short(task: ImageTask, reason: str) -> bool:
    """The generation stopped before the end, with images already kept: the task completes with them
    (`partial: true`). False when nothing was kept (the caller handles the failure as usual)."""
    if not kept_so_far(task)["images"]:
        return False
    log.info("The set of task %s was cut short (%s); it completes with the images kept", task.id, reason)
    task_complete(task=task, result=set_result(task, {}, cut_short=True))
    return True
