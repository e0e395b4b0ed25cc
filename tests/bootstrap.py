"""Loaded by pytest before Django (`-p tests.bootstrap`): points the settings at a throwaway data
folder and the embedded defaults, whatever the developer's `.env` or shell says."""

import atexit
import os
import shutil
import tempfile

_data_dir = tempfile.mkdtemp(prefix="jimeng-tests-")
atexit.register(shutil.rmtree, _data_dir, ignore_errors=True)

for _name in (
    "DATABASE_URL",
    "MONGODB_URI",
    "REDIS_ADDR",
    "CELERY_BROKER_URL",
    "VOLCENGINE_ACCESS_KEY",
    "VOLCENGINE_SECRET_KEY",
    "ARK_API_KEY",
    "PUBLIC_BASE_URL",
    "DJANGO_STORAGE_BACKEND",
):
    os.environ.pop(_name, None)

os.environ.update(
    {
        "JIMENG_ENV_FILE": os.path.join(_data_dir, "no.env"),
        "JIMENG_DATA_DIR": _data_dir,
        "DJANGO_SETTINGS_MODULE": "jimeng_server.settings",
        "PROVIDER_MODE": "auto",
        "LOCAL_PROVIDER_LATENCY_SECONDS": "0",
        "LOCAL_PROVIDER_FAILURE_RATE": "0",
    }
)
