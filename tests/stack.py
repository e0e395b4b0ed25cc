"""Real processes for end-to-end tests: the web server (gunicorn, as deployed), Celery workers and
beat, each a subprocess with its own environment, sharing a fresh data folder."""

from __future__ import annotations

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


class Stack:
    def __init__(self, workdir: Path, *, broker_url: str = "filesystem://", env: dict | None = None):
        self.workdir = workdir
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
        ]
        if server == "uvicorn":
            return [*gunicorn, "--worker-class", "uvicorn_worker.UvicornWorker", "jimeng_server.asgi:application"]
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
        io_worker: bool = False,
        webhook_worker: bool = False,
        beat: bool = False,
        web_workers: int = 1,
        web_threads: int = 8,
        web_server: str = "uvicorn",
    ) -> Stack:
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
                f"{name}@%h",
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

    def create_task(self, **body) -> str:
        body.setdefault("user_id", "user_123")
        response = self.session.post(self.url("/api/v1/ai/image/task"), json=body, timeout=10)
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
