"""A user's limits as atomic reservations: tasks waiting or running at once, tasks per UTC day."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from jimeng_server.errors import TooManyRequests
from users.counters import counter_give_back, counter_take
from users.models import UsageCounter

from ..models import CANCELABLE_STATUSES, ImageTask


def _active_key(user_id: str) -> str:
    return f"active|{user_id}"


def _day_key_prefix(user_id: str) -> str:
    return f"day|{user_id}|"


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
        key = _day_key_prefix(user_id) + day_start.date().isoformat()
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


def limits_forget(*, user_id: str) -> None:
    """A deleted user's counters go with them."""
    UsageCounter.objects.filter(key=_active_key(user_id)).delete()
    UsageCounter.objects.filter(key__startswith=_day_key_prefix(user_id)).delete()


def active_give_back(user_id: str) -> None:
    """A task of this user stopped waiting or running."""
    if settings.USER_MAX_ACTIVE_TASKS:
        counter_give_back(key=_active_key(user_id))


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
