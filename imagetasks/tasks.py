"""Celery entry points. Thin: take an id, call a service, schedule what the service asks for."""

from celery import shared_task

from . import services


@shared_task(name="imagetasks.process", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def process_image_task(task_id: str) -> None:
    retry_in = services.task_process(task_id=task_id)
    if retry_in is not None:
        process_image_task.apply_async((task_id,), countdown=retry_in)


@shared_task(name="imagetasks.reconcile", ignore_result=True)
def reconcile_image_tasks() -> dict:
    return services.tasks_reconcile()
