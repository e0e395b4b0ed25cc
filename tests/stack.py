"""Real processes for end-to-end tests: the web server (gunicorn, as deployed), Celery workers and
beat, each a subprocess with its own environment, sharing a fresh data folder."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
TERMINAL = {"completed", "failed", "canceled"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, *, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


class RedisServer:
    """A private redis-server on a free loopback port, that a test can stop and start again
    (installed by `scripts/test-services`)."""

    def __init__(self, workdir: Path):
        self.port, self.dir, self.process = free_port(), workdir, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)

        def answers():
            try:
                return client.ping()
            except redis.ConnectionError:
                return False

        wait_for(answers, timeout=10, what="redis")
        return self

    def stop(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


class FerretDBServer:
    """A MongoDB-wire server: FerretDB v1 (SQLite backend; built by scripts/ferretdb-build) on a free
    loopback port. Processes that use it need the test harness for what v1 lacks: `harness_env()`."""

    def __init__(self, workdir: Path):
        self.dir, self.process = workdir / "ferretdb", None
        self.port = free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/"

    def start(self):
        binary = subprocess.run(
            [str(ROOT / "scripts" / "ferretdb-build")], check=True, capture_output=True, text=True
        ).stdout.strip()
        self.dir.mkdir(parents=True, exist_ok=True)
        args = [
            binary, "--handler=sqlite", f"--sqlite-url=file:{self.dir}/", f"--listen-addr=127.0.0.1:{self.port}",
            f"--state-dir={self.dir}", "--debug-addr=-", "--telemetry=disable", "--log-level=warn",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args,
            stdout=open(self.dir / "ferretdb.log", "ab"),
            stderr=subprocess.STDOUT,
        )

        def answers():
            if self.process.poll() is not None:
                raise RuntimeError(f"FerretDB exited:\n{(self.dir / 'ferretdb.log').read_text()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                return False

        wait_for(answers, timeout=30, what="FerretDB")
        return self

    def harness_env(self) -> dict:
        """What a process needs to run on FerretDB v1: the test harness (tests/ferretdb_compat.py),
        installed at start-up through tests/ferretdb_site/sitecustomize.py, and the lock file with
        which it makes updates atomic."""
        paths = [str(ROOT / "tests" / "ferretdb_site"), str(ROOT), os.environ.get("PYTHONPATH")]
        return {
            "JIMENG_TEST_FERRETDB": "1",
            "JIMENG_TEST_FERRETDB_LOCK": str(self.dir / "updates.lock"),
            "PYTHONPATH": os.pathsep.join(filter(None, paths)),
        }

    def stop(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


class S3Server:
    """A private S3-compatible object store: SeaweedFS (`weed server -s3`, Apache-2.0; built by
    scripts/seaweedfs-build) on free loopback ports, with one identity and one bucket. `env()` is
    what a process needs to store its images there."""

    ACCESS_KEY, SECRET_KEY = "jimeng-test-access", "jimeng-test-secret-key"

    def __init__(self, workdir: Path, bucket: str = "jimeng"):
        self.dir, self.bucket, self.process = workdir / "seaweedfs", bucket, None
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def start(self):
        binary = subprocess.run(
            [str(ROOT / "scripts" / "seaweedfs-build")], check=True, capture_output=True, text=True
        ).stdout.strip()
        self.dir.mkdir(parents=True, exist_ok=True)
        identities = self.dir / "identities.json"
        identities.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "jimeng",
                            "credentials": [{"accessKey": self.ACCESS_KEY, "secretKey": self.SECRET_KEY}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        # Every port chosen here: SeaweedFS's defaults (a port + 10000 for gRPC, fixed ones) may be taken or invalid.
        names = ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3.grpc")
        ports = {name: free_port() for name in names}
        args = [
            binary, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={self.dir}",
            f"-master.port={ports['master']}", f"-master.port.grpc={ports['master.grpc']}",
            f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume.grpc']}",
            f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer.grpc']}",
            "-filer", "-s3", f"-s3.port={self.port}", f"-s3.port.grpc={ports['s3.grpc']}", f"-s3.config={identities}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.volumeSizeLimitMB=64", "-volume.max=8", "-metricsPort=0",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args,
            stdout=open(self.dir / "weed.log", "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        client = self.client()

        def bucket_made():
            if self.process.poll() is not None:
                raise RuntimeError(f"SeaweedFS exited:\n{(self.dir / 'weed.log').read_text()[-3000:]}")
            try:
                client.create_bucket(Bucket=self.bucket)
                return True
            except client.exceptions.BucketAlreadyOwnedByYou:
                return True
            except Exception:  # noqa: BLE001 - not up yet (connection refused, 503 while the filer starts)
                return False

        wait_for(bucket_made, timeout=60, interval=0.3, what="SeaweedFS's S3 gateway")
        return self

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.ACCESS_KEY,
            aws_secret_access_key=self.SECRET_KEY,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def env(self, **extra) -> dict:
        return {
            "S3_BUCKET": self.bucket,
            "S3_ENDPOINT_URL": self.endpoint,
            "S3_ACCESS_KEY_ID": self.ACCESS_KEY,
            "S3_SECRET_ACCESS_KEY": self.SECRET_KEY,
            "S3_ADDRESSING_STYLE": "path",
            **extra,
        }

    def stop(self):
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
            self.process = None


class Stack:
    def __init__(self, workdir: Path, *, broker_url: str = "filesystem://", env: dict | None = None, host: str = "%h"):
        self.workdir, self.host = workdir, host  # host: the worker node names' host part (make scale: a, b)
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            key: value
            for key, value in os.environ.items()
            # PROMETHEUS_MULTIPROC_DIR: this process's settings export theirs; a stack keeps its own.
            if key
            not in {
                "DATABASE_URL",
                "REDIS_ADDR",
                "VOLCENGINE_ACCESS_KEY",
                "VOLCENGINE_SECRET_KEY",
                "PROMETHEUS_MULTIPROC_DIR",
            }
        }
        self.env.update(
            {
                "JIMENG_DATA_DIR": str(self.data_dir),
                "JIMENG_ENV_FILE": str(workdir / "no.env"),
                "SERVER_HOST": "127.0.0.1",
                "SERVER_PORT": str(self.port),
                "CELERY_BROKER_URL": broker_url,
                "LOCAL_PROVIDER_LATENCY_SECONDS": "0.2",
                "LOCAL_PROVIDER_FAILURE_RATE": "0",
                "FILESYSTEM_BROKER_POLL_SECONDS": "0.05",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.env.get("MONGODB_URI"):
            self.env["MONGODB_DATABASE"] = f"stack_{self.port}"  # a database of its own
        self.env.update(env or {})
        self.processes: dict[str, subprocess.Popen] = {}
        self._log_offsets: dict[str, int] = {}
        self.session = requests.Session()

    # --- processes ------------------------------------------------------------------------------
    def _spawn(self, name: str, args: list[str], extra_env: dict | None = None) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")
        process = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**self.env, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a kill reaches the pool's children too
        )
        process.log_file = log
        self.processes[name] = process
        return process

    def manage(self, *args: str, extra_env: dict | None = None, input: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            input=input,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def web_command(self, server: str, workers: int, threads: int) -> list[str]:
        """The web server as the Procfile runs it (`uvicorn`: uvicorn workers under gunicorn), or the
        alternatives the benchmark compares it with."""
        bind = f"127.0.0.1:{self.port}"
        gunicorn = [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            bind,
            "--workers",
            str(workers),
            "--access-logfile",
            "-",
            "--control-socket",  # each server its own: several run on this machine at once
            str(self.data_dir / "gunicorn.ctl"),
        ]
        if server == "uvicorn":
            return [*gunicorn, "--worker-class", "jimeng_server.edge.UvicornWorker", "jimeng_server.asgi:application"]
        if server == "gthread":
            return [*gunicorn, "--threads", str(threads), "jimeng_server.wsgi:application"]
        if server == "granian":
            return [
                sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
                "--port", str(self.port), "--workers", str(workers), "jimeng_server.asgi:application",
            ]  # fmt: skip
        raise ValueError(server)

    def start(
        self,
        *,
        worker: bool = True,
        io_worker: bool | None = None,
        webhook_worker: bool = False,
        beat: bool = False,
        web_workers: int = 1,
        web_threads: int = 8,
        web_server: str = "uvicorn",
    ) -> Stack:
        """`io_worker` None: as the Procfile runs it wherever an upstream's outputs are downloaded (its
        queue stores them), i.e. when the stack talks to an upstream (the fake) — also when the test
        starts its default-queue workers itself; the local provider's outputs need none."""
        if io_worker is None:
            io_worker = bool(self.env.get("VOLCENGINE_HOST") or self.env.get("ARK_BASE_URL"))
        self.manage("migrate", "--noinput", "-v", "0")
        if worker:
            self.start_worker(wait=False)
        if io_worker:
            self.start_worker("worker_io", pool="threads", concurrency=32, queue="imagetasks-io", wait=False)
        if webhook_worker:  # as the Procfile's `webhooks` process
            self.start_worker("webhooks", pool="threads", concurrency=16, queue="webhooks", wait=False)
        self._spawn("web", self.web_command(web_server, web_workers, web_threads))
        wait_for(self._healthy, timeout=30, what=f"web server on {self.base_url}\n{self.log('web')}")
        if worker:
            self.wait_worker_ready()
        if io_worker:
            self.wait_worker_ready("worker_io")
        if webhook_worker:
            self.wait_worker_ready("webhooks")
        if beat:
            self._spawn(
                "beat",
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "jimeng_server",
                    "beat",
                    "--loglevel",
                    "INFO",
                    "--schedule",
                    str(self.data_dir / "beat-schedule"),
                ],
            )
        return self

    def start_worker(
        self,
        name: str = "worker",
        *,
        concurrency: int = 2,
        pool: str = "prefork",
        queue: str = "imagetasks",
        extra_env: dict | None = None,
        wait: bool = True,
    ) -> None:
        log_path = self.workdir / f"{name}.log"
        self._log_offsets[name] = log_path.stat().st_size if log_path.exists() else 0
        self._spawn(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "jimeng_server",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(concurrency),
                "--pool",
                pool,
                "-Q",
                queue,
                "--hostname",
                f"{name}@{self.host}",
                "--without-gossip",
                "--without-mingle",
            ],
            extra_env,
        )
        if wait:
            self.wait_worker_ready(name)

    def wait_worker_ready(self, name: str = "worker") -> None:
        log_path = self.workdir / f"{name}.log"
        offset = self._log_offsets.get(name, 0)
        wait_for(
            lambda: b"ready." in log_path.read_bytes()[offset:],
            timeout=60,
            what=f"worker {name} to be ready\n{self.log(name)}",
        )

    def stop_process(self, name: str, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        process = self.processes.pop(name, None)
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.log_file.close()

    def kill_group(self, name: str) -> None:
        """kill -9 a process and its children (a worker and its pool), as a crash would."""
        process = self.processes[name]
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        for name, process in self.processes.items():  # signal all first: they shut down in parallel
            if process.poll() is None:
                if name == "web":
                    process.send_signal(signal.SIGTERM)
                else:  # a warm worker shutdown waits out its pool for seconds; the test is over
                    self.kill_group(name)
        for name in list(self.processes):
            self.stop_process(name)
        self.session.close()
        if self.env.get("MONGODB_URI") and self.env.get("MONGODB_DATABASE", "").startswith("stack_"):
            import pymongo  # its database of its own on a shared server (JIMENG_TEST_MONGODB_URI): gone

            try:
                with pymongo.MongoClient(self.env["MONGODB_URI"], serverSelectionTimeoutMS=2000) as client:
                    client.drop_database(self.env["MONGODB_DATABASE"])
            except pymongo.errors.PyMongoError:
                pass  # the server is down (a test stopped it): nothing to tidy

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    # --- HTTP -------------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return self.base_url + path

    def _healthy(self) -> bool:
        try:
            return self.session.get(self.url("/health"), timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def seed_client(self, script: str = "seed_client.sh", **env) -> subprocess.CompletedProcess:
        """The original README's bash + curl + jq client (examples/seed_client.sh, or its video copy)
        against this server."""
        return subprocess.run(
            ["bash", str(ROOT / "examples" / script)],
            env={**os.environ, "BASE_URL": self.base_url, **env},
            capture_output=True,
            text=True,
            timeout=240,
        )

    def create_task(self, **body) -> str:
        body.setdefault("user_id", "user_123")
        response = self.session.post(self.url("/api/v1/ai/image/task"), json=body, timeout=10)
        assert response.status_code == 202, response.text
        return response.json()["data"]["task_id"]

    def create_video(self, **body) -> str:
        body.setdefault("user_id", "user_123")
        response = self.session.post(self.url("/api/v1/ai/video/task"), json=body, timeout=10)
        assert response.status_code == 202, response.text
        return response.json()["data"]["task_id"]

    def result(self, task_id: str) -> dict:
        response = self.session.get(self.url(f"/api/v1/ai/image/result/{task_id}"), timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def wait_terminal(self, task_id: str, timeout: float = 60) -> dict:
        def terminal():
            data = self.result(task_id)
            return data if data["status"] in TERMINAL else None

        try:
            return wait_for(terminal, timeout=timeout, interval=0.1, what=f"task {task_id}")
        except TimeoutError as exc:
            logs = "\n".join(f"--- {name}\n{self.log(name)}" for name in self.processes)
            raise TimeoutError(f"{exc}; last state {self.result(task_id)}\n{logs}") from None
