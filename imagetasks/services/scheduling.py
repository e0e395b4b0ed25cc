"""What runs next: the one module that sends Celery messages for tasks. A service returns a `NextStep`
or asks for one on commit; this module turns it into a message, by task name, so that no service
imports the Celery task module (which imports the services)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal

from celery import current_app
from django.conf import settings
from django.db import transaction

from providers import registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NextStep:
    """What a worker run asks for next: run `process` again (retry, or wait for capacity), `poll` the
    upstream, or `store` a finished generation's outputs (`payload`: their URLs), after `delay`
    seconds. `seq` is the fencing token of the task's chain of polls and stores."""

    action: Literal["process", "poll", "store"]
    delay: float
    seq: int = 0
    provider: str = ""
    payload: dict | None = field(default=None, compare=False)


def _queue_for(provider: str) -> str:
    """Synchronous upstreams block for the whole generation: they run on the I/O (thread-pool) queue."""
    style = registry.provider_get(provider).style if provider in registry.provider_names() else "async"
    return settings.CELERY_IO_QUEUE if style == "sync" else settings.CELERY_TASK_DEFAULT_QUEUE


# Redis serves a queue's higher priorities first (0 is the highest): a poll, which finishes a running
# generation and frees its slot, never waits behind a backlog of new tasks. (The filesystem broker
# has no priorities; it does not need them at its scale.)
POLL_PRIORITY, PROCESS_PRIORITY = 0, 6


# The Celery tasks (imagetasks/tasks.py) these messages run.
PROCESS, POLL, STORE, DELIVER_WEBHOOK, CANCEL_UPSTREAM = (
    "imagetasks.process",
    "imagetasks.poll",
    "imagetasks.store",
    "imagetasks.deliver_webhook",
    "imagetasks.cancel_upstream",
)


def send(name: str, args: tuple, **options) -> None:
    """The one place a task message leaves, by name (routing by CELERY_TASK_ROUTES). Never retried
    here: a broker that is away fails at once, and the row says what is due."""
    current_app.send_task(name, args=args, retry=False, **options)


def _send_or_log(what: str, name: str, args: tuple, **options) -> None:
    """Broker failures are logged, not raised: the row says what is due, and the reconciler sends it."""
    try:
        send(name, args, **options)
    except Exception:
        log.warning("Could not enqueue %s; the reconciler will", what, exc_info=True)


def task_schedule(*, task_id: str, step: NextStep) -> None:
    """Send the Celery message for a step."""
    if step.action == "poll":
        _send_or_log(
            f"poll of task {task_id}", POLL, (task_id, step.seq), countdown=step.delay or None, priority=POLL_PRIORITY
        )
    elif step.action == "store":  # downloads wait on the network: the I/O (thread-pool) queue
        _send_or_log(
            f"store of task {task_id}",
            STORE,
            (task_id, step.seq, step.payload),
            countdown=step.delay or None,
            queue=settings.CELERY_IO_QUEUE,
            priority=POLL_PRIORITY,
        )
    else:
        _send_or_log(
            f"process of task {task_id}",
            PROCESS,
            (task_id,),
            countdown=step.delay or None,
            queue=_queue_for(step.provider),
            priority=PROCESS_PRIORITY,
        )


class _Kept(list):
    open = True


_kept: ContextVar[_Kept | None] = ContextVar("jimeng_kept_starts", default=None)


@contextmanager
def starts_kept() -> Iterator[list[str]]:
    """While a worker's poll runs: the tasks woken for the slot it gives back are kept in the list
    this yields, for the same process to start as soon as the poll is through, instead of each being
    sent as a message — which would wait behind the due polls the worker holds unacknowledged (a
    round of generations ending together) before any process received it. A task that runs on
    another queue (a sync upstream's), or a wake-up committed after the poll ended, is sent as ever."""
    kept = _Kept()
    token = _kept.set(kept)
    try:
        yield kept
    finally:
        kept.open = False
        _kept.reset(token)


def _start_or_keep(task_id: str, step: NextStep, kept: _Kept | None) -> None:
    if kept is not None and kept.open:
        kept.append(task_id)
    else:
        task_schedule(task_id=task_id, step=step)


def task_enqueue_on_commit(*, task_id: str, provider: str, step: NextStep | None = None) -> None:
    """Wake a worker for this task once the row it will read is committed (or, inside `starts_kept`,
    keep it for this process to start)."""
    step = step or NextStep("process", 0, provider=provider)
    kept = _kept.get()
    if (
        kept is not None
        and step.action == "process"
        and not step.delay
        and _queue_for(provider) == settings.CELERY_TASK_DEFAULT_QUEUE
    ):
        transaction.on_commit(lambda: _start_or_keep(task_id, step, kept))
    else:
        transaction.on_commit(lambda: task_schedule(task_id=task_id, step=step))


def upstream_cancel_on_commit(*, task_id: str) -> None:
    """Tell the upstream to stop a canceled task's generation, once the cancel is committed."""
    transaction.on_commit(lambda: _send_or_log(f"upstream cancel of task {task_id}", CANCEL_UPSTREAM, (task_id,)))


def webhook_delivery_on_commit(*, delivery_id: str, countdown: float | None = None) -> None:
    """Send a recorded webhook delivery (on its own queue), once the row is committed."""
    transaction.on_commit(
        lambda: _send_or_log(f"webhook delivery {delivery_id}", DELIVER_WEBHOOK, (delivery_id,), countdown=countdown)
    )
