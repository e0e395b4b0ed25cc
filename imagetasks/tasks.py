"""Celery entry points. Thin: take an id, call a service, schedule the step it asks for. (Services
send these by name — services.scheduling — so this module is the only one that imports both.)"""

import logging
import time

from celery import shared_task
from django.conf import settings

from . import dispatcher, services  # noqa: F401  (dispatcher: the outbox thread, started with the worker)
from .services import scheduling

log = logging.getLogger(__name__)


def _schedule(task_id: str, step: services.NextStep | None) -> None:
    if step is not None:
        services.task_schedule(task_id=task_id, step=step)


@shared_task(name=scheduling.PROCESS, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def process_image_task(task_id: str) -> None:
    step = services.task_process(task_id=task_id)
    # The blocking baseline of `make bench` only: the worker waits out the generation itself.
    while settings.WORKER_BLOCKING_POLL and step is not None and step.action == "poll":
        time.sleep(step.delay)
        step = services.task_poll(task_id=task_id, seq=step.seq)
    _schedule(task_id, step)


@shared_task(name=scheduling.POLL, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def poll_image_task(task_id: str, seq: int) -> None:
    with scheduling.starts_kept() as woken:  # a generation found done gives its slot to the next task
        step = services.task_poll(task_id=task_id, seq=seq)
    _schedule(task_id, step)
    for next_id in woken:  # started here, now: no message to wait behind the worker's due polls
        try:
            _schedule(next_id, services.task_process(task_id=next_id))
        except Exception:  # its row says it is due: the reconciler sends it again
            log.exception("Could not start task %s after the slot it waited for freed", next_id)


@shared_task(name=scheduling.STORE, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def store_outputs(task_id: str, seq: int, payload: dict) -> None:
    _schedule(task_id, services.task_store(task_id=task_id, seq=seq, payload=payload))


@shared_task(name=scheduling.DELIVER_WEBHOOK, acks_late=True, ignore_result=True)
def deliver_webhook(delivery_id: str) -> None:
    retry_in = services.webhook_deliver(delivery_id=delivery_id)
    if retry_in is not None:
        scheduling.send(scheduling.DELIVER_WEBHOOK, (delivery_id,), countdown=retry_in)


@shared_task(name=scheduling.CANCEL_UPSTREAM, ignore_result=True)
def cancel_upstream_task(task_id: str) -> None:
    services.task_cancel_upstream(task_id=task_id)


@shared_task(name="imagetasks.reconcile", ignore_result=True)
def reconcile_image_tasks() -> dict:
    return services.tasks_reconcile()


@shared_task(name="imagetasks.clean_up", ignore_result=True)
def clean_up() -> dict:
    return services.records_expired_delete()
