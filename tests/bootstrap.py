"""Loaded by pytest before Django (`-p tests.bootstrap`): points the settings at a throwaway data
folder and the embedded defaults, whatever the developer's `.env` or shell says.

With JIMENG_TEST_DATABASE=ferretdb the whole suite runs on MongoDB's wire protocol instead: a
FerretDB server (SQLite backend, temp dir, free loopback port) is started here, MONGODB_URI points
at it, and the FerretDB harness (tests/ferretdb_compat.py) is installed in this process and, through
PYTHONPATH, in every process a test starts."""

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
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
    "DJANGO_STORAGE_BACKEND",
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


def _start_ferretdb() -> str:
    binary = subprocess.run(
        [str(ROOT / "scripts" / "ferretdb-build")], check=True, capture_output=True, text=True
    ).stdout.strip()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    state = Path(_data_dir) / "ferretdb"
    state.mkdir()
    log = open(state / "ferretdb.log", "wb")
    process = subprocess.Popen(
        [
            binary,
            "--handler=sqlite",
            f"--sqlite-url=file:{state}/",
            f"--listen-addr=127.0.0.1:{port}",
            f"--state-dir={state}",
            "--debug-addr=-",
            "--telemetry=disable",
            "--log-level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    atexit.register(process.kill)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return f"mongodb://127.0.0.1:{port}/"
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    raise RuntimeError(f"FerretDB did not start:\n{(state / 'ferretdb.log').read_text()}")


if os.environ.get("JIMENG_TEST_DATABASE") == "ferretdb":
    os.environ["MONGODB_URI"] = _start_ferretdb()
    os.environ["MONGODB_DATABASE"] = "jimeng"
    os.environ["JIMENG_TEST_FERRETDB"] = "1"
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT / "tests" / "ferretdb_site"), str(ROOT), os.environ.get("PYTHONPATH")])
    )
    sys.path.insert(0, str(ROOT))
    from tests.ferretdb_compat import install

    install()
