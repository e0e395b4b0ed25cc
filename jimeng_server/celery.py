"""The Celery app: configured from Django settings (`CELERY_*`), tasks discovered in the apps."""

import os

from celery import Celery
from celery.signals import setup_logging, task_prerun, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jimeng_server.settings")

app = Celery("jimeng_server")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _fresh_connections_after_fork(**_kwargs):
    """A forked pool process must not reuse the parent's database clients: MongoClient (cached by
    django-mongodb-backend) is not fork-safe, and SQLite handles must not cross a fork either."""
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        connection.close()


@task_prerun.connect
def _connections_like_a_request(**_kwargs):
    """Each task starts as a web request does: a connection past CONN_MAX_AGE, or one that failed, is
    closed (the next query opens a fresh one, health-checked first); a good one is reused."""
    from django.db import close_old_connections

    close_old_connections()


@setup_logging.connect
def _django_logging(**_kwargs):
    """Workers and beat log as the web does: Django's LOGGING (LOG_LEVEL, one format), not Celery's own
    set-up of the root logger."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
