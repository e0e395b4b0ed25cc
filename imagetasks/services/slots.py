"""Concurrency slots as tasks see them: give one back (waking the next task waiting for it), park a
task that found its cap full, wake parked tasks — in the fair order (services/fair.py)."""

from __future__ import annotations

from django.utils import timezone

from ..capacity import capacity
from ..models import ImageTask, Status
from .fair import start_tag, user_full
from .scheduling import task_enqueue_on_commit

_PASS_MOST = 50  # waiting tasks a wake-up passes over at most (their users at USER_MAX_RUNNING)


def slot_release(task: ImageTask) -> None:
    """Give the concurrency slot back, and wake the next task waiting for one — once: a slot given back
    when the upstream's work was done (its outputs then stored) is not given again when the task ends."""
    if capacity().release(task):
        tasks_wake(provider=task.provider, model=task.model, count=1) or tasks_wake(provider=task.provider, count=1)


def task_park(task: ImageTask) -> None:
    """No free slot: the task waits, pending, until a slot frees (see `tasks_wake`), with its start tag
    in the fair order — drawn now, or kept if it parked before and was woken but lost the slot."""
    ImageTask.objects.filter(pk=task.pk, status=Status.PENDING).update(
        waiting_since=timezone.now(),
        queue_ticket=task.queue_ticket if task.queue_ticket is not None else start_tag(task),
        next_attempt_at=None,
        updated_at=timezone.now(),
    )


def tasks_wake(*, provider: str, count: int, model: str | None = None) -> int:
    """Wake up to `count` of the tasks first in the fair order waiting for a slot of this provider (and
    model, if given): the smallest start tags, the longest waiting (then the smallest id) among equal
    ones — passing over (at most _PASS_MOST) those whose user runs USER_MAX_RUNNING already. Each is
    unparked by a conditional update first, so two processes freeing slots at once wake two different
    tasks."""
    woken, passed, full = 0, [], {}
    waiting = ImageTask.objects.filter(
        provider=provider, queue_ticket__isnull=False, waiting_since__isnull=False, status=Status.PENDING
    )  # by the fair line's index: the tags in order, not every task the provider ever ran (no tag)
    if model is not None:
        waiting = waiting.filter(model=model)
    while woken < count and len(passed) < _PASS_MOST:
        line = waiting.exclude(pk__in=passed) if passed else waiting
        candidates = list(
            line.order_by("queue_ticket", "waiting_since", "id").values_list("id", "user_id")[: count - woken]
        )
        if not candidates:
            break
        for task_id, user_id in candidates:
            if user_id not in full:
                full[user_id] = user_full(provider, user_id)
            if full[user_id]:
                passed.append(task_id)  # it keeps its place: it starts when one of its user's ends
            elif waiting.filter(pk=task_id).update(waiting_since=None, updated_at=timezone.now()):
                task_enqueue_on_commit(task_id=task_id, provider=provider)
                woken += 1
    return woken


def slot_free(task: ImageTask, hold_seconds: float = 0) -> None:
    """Done with the slot: given back, or — after a submit that may have been accepted upstream —
    left taken for `hold_seconds`, so the cap also counts a generation we lost sight of."""
    if hold_seconds:
        capacity().hold(task, hold_seconds)
    else:
        slot_release(task)
