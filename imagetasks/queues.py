"""The broker queue of image tasks: its depth (queue commands, metrics) and purge (queue_clear)."""

from django.conf import settings

from jimeng_server.celery import app


def queue_depth() -> int:
    with app.connection_for_write() as connection:
        return connection.default_channel.queue_declare(
            queue=settings.CELERY_TASK_DEFAULT_QUEUE, passive=False
        ).message_count


def queue_purge() -> int:
    with app.connection_for_write() as connection:
        return connection.default_channel.queue_purge(settings.CELERY_TASK_DEFAULT_QUEUE) or 0
