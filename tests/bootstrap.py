"""Loaded by pytest before Django (`-p tests.bootstrap`): points the settings at a throwaway data
folder and the embedded defaults, whatever the developer's `.env` or shell says.

With JIMENG_TEST_DATABASE=ferretdb the whole suite runs on MongoDB's wire protocol instead: a
FerretDB server (SQLite backend, temp dir, free loopback port) is started here, MONGODB_URI points
at it, and the FerretDB harness (tests/ferretdb_compat.py) is installed in this process and, through
PYTHONPATH, in every process a test starts. With JIMENG_TEST_MONGODB_URI=mongodb://... it runs against
that server instead, with no harness."""

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_data_dir = tempfile.mkdtemp(prefix="jimeng-tests-")
atexit.register(shutil.rmtree, _data_dir, ignore_errors=True)

for _name in (
    "DATABASE_URL",
    "MONGODB_URI",
    "MONGODB_DATABASE",
    "REDIS_ADDR",
    "CELERY_BROKER_URL",
    "VOLCENGINE_ACCESS_KEY",
    "VOLCENGINE_SECRET_KEY",
    "ARK_API_KEY",
    "PUBLIC_BASE_URL",
    "UPSTREAM_CONCURRENCY",
    "MODEL_CONCURRENCY",
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
        # The fake upstream and webhook receivers listen on loopback; SSRF tests set it back to none.
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
    }
)


if os.environ.get("JIMENG_TEST_DATABASE") == "ferretdb":
    sys.path.insert(0, str(ROOT))
    from tests.stack import FerretDBServer

    _ferretdb = FerretDBServer(Path(_data_dir)).start()
    atexit.register(_ferretdb.stop)
    os.environ["MONGODB_URI"] = _ferretdb.uri
    os.environ["MONGODB_DATABASE"] = "jimeng"
    os.environ.update(_ferretdb.harness_env())
    from tests.ferretdb_compat import install

    install()
elif os.environ.get("JIMENG_TEST_MONGODB_URI"):
    # The whole suite against an external MongoDB or MongoDB-compatible server (MongoDB 7, FerretDB
    # v2 on DocumentDB...), as it is: no harness, nothing skipped "on FerretDB". Its databases are
    # this run's own (jimeng_tests_<pid>, and one per stack) and dropped afterwards.
    os.environ["MONGODB_URI"] = os.environ["JIMENG_TEST_MONGODB_URI"]
    os.environ["MONGODB_DATABASE"] = f"jimeng_tests_{os.getpid()}"

    def _drop_test_databases():
        import pymongo

        with pymongo.MongoClient(os.environ["MONGODB_URI"], serverSelectionTimeoutMS=2000) as client:
            for name in (os.environ["MONGODB_DATABASE"], "test_" + os.environ["MONGODB_DATABASE"]):
                client.drop_database(name)

    atexit.register(_drop_test_databases)
