"""The outbox's dispatcher (services/outbox.py): a thread in every Celery worker that serves the
default queue, started when the worker is ready. It sends new tasks' first messages in batches and,
when the outbox is empty, looks again every OUTBOX_POLL_SECONDS."""

from __future__ import annotations

import logging
import threading

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections

from .services import outbox_dispatch

log = logging.getLogger(__name__)

_BATCH = 500
_stop = threading.Event()


def _run() -> None:
    while not _stop.is_set():
        sent = 0
        try:
            close_old_connections()
            sent = outbox_dispatch(limit=_BATCH)
        except Exception:
            log.warning("The outbox dispatcher failed a round; it tries again", exc_info=True)
            _stop.wait(1)
        if sent < _BATCH:
            _stop.wait(settings.OUTBOX_POLL_SECONDS)


@worker_ready.connect
def _start(sender=None, **_kwargs):
    queues = {queue.name for queue in getattr(getattr(sender, "task_consumer", None), "queues", [])}
    if settings.CELERY_TASK_DEFAULT_QUEUE not in queues:
        return  # the I/O and webhook workers: they get no new tasks
    _stop.clear()
    threading.Thread(target=_run, name="outbox-dispatcher", daemon=True).start()
    log.info("Outbox dispatcher started (every %.2f s when idle)", settings.OUTBOX_POLL_SECONDS)


@worker_shutdown.connect
def _stop_dispatcher(**_kwargs):
    _stop.set()
