"""Retention: a task finished more than IMAGE_RETENTION_DAYS ago loses its stored files (generated
images and uploaded references), wherever they are kept; the task keeps its record, its answers say
the images expired, and their URLs answer 410 Gone (api/media.py)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from .. import storage
from ..models import ImageTask

log = logging.getLogger(__name__)


def files_expire(*, now: datetime | None = None, batch: int = 200) -> int:
    """Deletes the files of tasks finished before the retention window, oldest first, and marks
    each task (after its files are gone: a crash in between only deletes them again next time).
    Returns how many tasks were marked; does nothing when IMAGE_RETENTION_DAYS is unset."""
    if not settings.IMAGE_RETENTION_DAYS:
        return 0
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.IMAGE_RETENTION_DAYS)
    marked, failed = 0, set()
    while True:
        due = (
            ImageTask.objects.filter(files_expired_at__isnull=True, finished_at__lt=cutoff)
            .exclude(pk__in=failed)
            .only("id", "result")
            .order_by("finished_at")[:batch]
        )
        tasks = list(due)
        for task in tasks:
            try:
                storage.task_files_delete(task)
            except Exception as exc:  # noqa: BLE001 - one unreachable object must not stop the rest
                log.warning("files of task %s not deleted (%s); trying again next time", task.id, exc)
                failed.add(task.id)
                continue
            marked += ImageTask.objects.filter(pk=task.pk, files_expired_at__isnull=True).update(files_expired_at=now)
        if len(tasks) < batch:
            return marked
