"""The Celery app: configured from Django settings (`CELERY_*`), tasks discovered in the apps."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jimeng_server.settings")

app = Celery("jimeng_server")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
