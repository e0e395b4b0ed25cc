"""The transactional outbox of new tasks: a create writes its row with `outbox_since` set and returns;
`outbox_dispatch` (run in a loop by every worker that serves the default queue, imagetasks/
dispatcher.py) claims the oldest such rows and sends their first message. So a create costs one
insert — no broker round trip on the request's path — and a crash between the write and the send
loses nothing: the row is still pending, and the reconciler sends what the dispatcher did not."""

from __future__ import annotations

from django.db import transaction

from ..models import ImageTask, Status
from .scheduling import NextStep, task_schedule


def outbox_dispatch(*, limit: int = 500) -> int:
    """Send the first message of up to `limit` new tasks, oldest first; return how many. Each row
    is claimed by a conditional update, so dispatchers on several hosts never send one twice."""
    waiting = ImageTask.objects.filter(outbox_since__isnull=False).order_by("outbox_since")
    rows = list(waiting.values_list("id", "provider", "status")[:limit])
    if not rows:
        return 0
    claimed = []
    with transaction.atomic():  # one hold of SQLite's write lock for the batch
        for task_id, provider, status in rows:
            taken = ImageTask.objects.filter(pk=task_id, outbox_since__isnull=False).update(outbox_since=None)
            if taken and status == Status.PENDING:  # one canceled meanwhile leaves the outbox unsent
                claimed.append((task_id, provider))
    for task_id, provider in claimed:
        task_schedule(task_id=task_id, step=NextStep("process", 0, provider=provider))
    return len(claimed)
