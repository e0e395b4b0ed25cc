"""Start-up of every process (web, worker, beat, manage.py), after settings are read: the local
folders the embedded defaults use, the metrics store shared by the processes of a machine, and the
refusal to run an unsafe configuration."""

import os

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class JimengServerConfig(AppConfig):
    name = "jimeng_server"
    verbose_name = "Jimeng Server"

    def ready(self):
        from . import checks

        if problems := checks.configuration_problems():
            raise ImproperlyConfigured(checks.refusal(problems))
        _prepare_folders()
        _metrics_store()
        if settings.USE_MONGODB:
            from .mongodb.lookups import register

            register()


def _prepare_folders() -> None:
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3" and database["NAME"] != ":memory:":
        os.makedirs(os.path.dirname(str(database["NAME"])) or ".", exist_ok=True)
    os.makedirs(settings.STATIC_ROOT, exist_ok=True)  # whitenoise warns on every request until it exists
    for folder in {value for key, value in settings.CELERY_BROKER_TRANSPORT_OPTIONS.items() if "folder" in key}:
        os.makedirs(folder, exist_ok=True)


def _metrics_store() -> None:
    """Every process of a machine writes its metrics under PROMETHEUS_MULTIPROC_DIR (settings name it
    to prometheus_client before it loads) and /metrics adds them up: the folder must exist before the
    first metric is made."""
    os.makedirs(settings.PROMETHEUS_MULTIPROC_DIR, exist_ok=True)
