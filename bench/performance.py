"""`make bench`: throughput, latency and memory figures, each beside a baseline measured in the same
run (this machine is noisy: ratios, not absolute numbers, are the figures).

P1  pipeline capacity: the fake upstream at 10 s per generation, cap 64, one 2-process worker:
    completed tasks/s, against 0.9 × 64/10 and against a blocking worker (it waits out each
    generation holding its process, as the original Go server did).
P2  submit: POST /api/v1/ai/image/task req/s, and p99 at a fixed offered load, against the bare DRF
    endpoint POST /api/v1/ping on the same server.
P3  poll: GET /api/v1/ai/image/result/:id req/s, against GET /api/v1/ping.
P4  overhead: median end-to-end time of a task ÷ the upstream's 10 s.
P5  memory: the worker's RSS (main process and pool) growth over 10,000 tasks.

The web server runs as the README deploys it (gunicorn, WEB_CONCURRENCY=2 workers × WEB_THREADS=4);
load comes from `hey` (Debian). Prints one table and writes bench/results.md."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.upstream import FakeConfig, FakeUpstream  # noqa: E402
from tests.stack import RedisServer, Stack, wait_for  # noqa: E402

LATENCY = 10.0
CAP = 64
P1_TASKS = 6 * CAP
BLOCKING_TASKS = 6
P4_TASKS = 16
P5_TASKS = 10_000
TASK_BODY = {"prompt": "a lighthouse at dusk", "user_id": "bench", "model": "jimeng_t2i_v30", "size": "1328x1328"}


def _env(fake: FakeUpstream, **extra) -> dict:
    return {
        **fake.env(),
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",  # the fake's image URLs are on loopback
        "UPSTREAM_CONCURRENCY": f"jimeng={CAP}",
        "API_RATE_LIMIT": "",
        "USER_DAILY_TASK_QUOTA": "0",
        "USER_MAX_ACTIVE_TASKS": "0",
        **extra,
    }


# --- load ------------------------------------------------------------------------------------------
def hey(url: str, *, requests: int = 0, seconds: int = 0, concurrency: int = 8, qps: float = 0, body=None) -> dict:
    args = ["hey", "-c", str(concurrency)]
    args += ["-z", f"{seconds}s"] if seconds else ["-n", str(requests)]
    if qps:
        args += ["-q", f"{qps / concurrency:.2f}"]  # hey's rate is per worker
    if body is not None:
        args += ["-m", "POST", "-T", "application/json", "-d", json.dumps(body)]
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=600).stdout
    statuses = {int(code): int(count) for code, count in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)}
    bad = {code: count for code, count in statuses.items() if code >= 300}
    if bad or not statuses:
        raise RuntimeError(f"{url}: unexpected answers {statuses}\n{out}")
    p99 = re.search(r"99%+ in ([\d.]+) secs", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p99_ms": float(p99.group(1)) * 1000 if p99 else float("nan"),
        "requests": sum(statuses.values()),
    }


def _create_many(stack: Stack, count: int, prefix: str) -> list[str]:
    def one(n):
        return stack.create_task(**{**TASK_BODY, "prompt": f"{prefix} {n}"})

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def _details(stack: Stack, ids: list[str], timeout: float) -> list[dict]:
    """Wait until every task ended — watching the SQLite file, so that the wait puts no load on the
    web server or the worker being measured — then read each task once through the API."""
    deadline = time.monotonic() + timeout
    while _unfinished(stack, ids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{_unfinished(stack, ids)} of {len(ids)} tasks unfinished after {timeout} s")
        time.sleep(0.5)
    return [stack.session.get(stack.url(f"/api/v1/tasks/{task_id}"), timeout=10).json()["data"] for task_id in ids]


def _unfinished(stack: Stack, ids: list[str]) -> int:
    marks = ",".join("?" * len(ids))
    return _tasks_counted(stack, f"_id IN ({marks}) AND status IN ('pending', 'processing')", ids)


def _at(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _throughput(details: list[dict]) -> float:
    assert all(d["status"] == "completed" for d in details), {d["status"] for d in details}
    start = min(_at(d["created_at"]) for d in details)
    end = max(_at(d["finished_at"]) for d in details)
    return len(details) / (end - start)


# --- memory ----------------------------------------------------------------------------------------
def _tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its descendants, in MB."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))
            for thread in Path(f"/proc/{current}/task").iterdir():
                stack += [int(child) for child in (thread / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, AttributeError):
            continue
    return total / 1024


def _tasks_counted(stack: Stack, where: str, params) -> int:
    """Tasks matching `where`, read straight from the stack's SQLite file: an API call or a
    manage.py run per look would load the machine that is being measured."""
    database = stack.data_dir / "db.sqlite3"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as connection:
        return connection.execute(f"SELECT count(*) FROM imagetasks_imagetask WHERE {where}", params).fetchone()[0]


def _count(stack: Stack, status: str) -> int:
    return _tasks_counted(stack, "status = ?", (status,))


# --- the figures -----------------------------------------------------------------------------------
def web_figures(workdir: Path, fake: FakeUpstream, redis_url: str) -> tuple[dict, Stack]:
    """P2 and P3 on a web server with no worker (tasks pile up pending: they feed P5)."""
    stack = Stack(workdir / "web", broker_url=redis_url, env=_env(fake))
    (workdir / "web").mkdir(exist_ok=True)
    stack.start(worker=False, web_workers=2, web_threads=4)
    ping, submit = stack.url("/api/v1/ping"), stack.url("/api/v1/ai/image/task")
    say("P2/P3: web server only, hey against ping, submit and poll")
    hey(ping, requests=500)  # warm both gunicorn workers
    hey(submit, requests=500, body=TASK_BODY)
    bare = hey(ping, seconds=10, body=TASK_BODY)
    created = hey(submit, seconds=10, body=TASK_BODY)
    load = round(0.5 * min(bare["rps"], created["rps"]))
    bare_fixed = hey(ping, seconds=10, qps=load, body=TASK_BODY)
    created_fixed = hey(submit, seconds=10, qps=load, body=TASK_BODY)
    task_id = stack.create_task(**TASK_BODY)
    bare_get = hey(ping, seconds=10)
    polled = hey(stack.url(f"/api/v1/ai/image/result/{task_id}"), seconds=10)
    figures = {
        "P2 submit req/s": (created["rps"], bare["rps"], created["rps"] / bare["rps"], ">= 0.5"),
        f"P2 submit p99 ms at {load} req/s": (
            created_fixed["p99_ms"],
            bare_fixed["p99_ms"],
            created_fixed["p99_ms"] / bare_fixed["p99_ms"],
            "<= 2",
        ),
        "P3 poll req/s": (polled["rps"], bare_get["rps"], polled["rps"] / bare_get["rps"], ">= 0.7"),
    }
    return figures, stack


def memory_figure(stack: Stack, fake: FakeUpstream) -> dict:
    """P5: the backlog the submit runs left (topped up to 10,000), run by one worker."""
    fake.state.reset(FakeConfig(latency=0.0))
    have = _count(stack, "pending")
    if have < P5_TASKS:
        hey(stack.url("/api/v1/ai/image/task"), requests=P5_TASKS - have, body=TASK_BODY)
    total = _count(stack, "pending")
    say(f"P5: one worker runs {total} tasks")
    stack.start_worker("worker", concurrency=2)
    pid = stack.processes["worker"].pid
    wait_for(lambda: _count(stack, "completed") >= 500, timeout=300, interval=1, what="500 tasks")
    warm = _tree_rss_mb(pid)
    started = time.monotonic()
    wait_for(lambda: _count(stack, "completed") >= total, timeout=900, interval=2, what=f"{total} tasks")
    rate = (total - 500) / (time.monotonic() - started)
    end = _tree_rss_mb(pid)
    say(f"P5: RSS {warm:.1f} MB after 500 tasks, {end:.1f} MB after {total}")
    return {
        f"P5 worker RSS growth over {total} tasks (MB)": (end - warm, warm, None, "< 20"),
        "P5 tasks/s through one worker (fake at 0 s)": (rate, None, None, ""),
    }


def pipeline_figures(workdir: Path, fake: FakeUpstream, redis_url: str) -> dict:
    fake.state.reset(FakeConfig(latency=LATENCY))
    (workdir / "pipeline").mkdir(exist_ok=True)
    stack = Stack(workdir / "pipeline", broker_url=redis_url, env=_env(fake))
    try:
        stack.start(worker=False, web_workers=2, web_threads=4)
        stack.start_worker("worker", concurrency=2)
        say("P4: 16 tasks at 10 s, no queueing")
        # P4: a light load, no queueing: what the pipeline adds to the upstream's time.
        details = _details(stack, _create_many(stack, P4_TASKS, "p4"), timeout=120)
        overhead = statistics.median(_at(d["finished_at"]) - _at(d["created_at"]) for d in details) / LATENCY
        say(f"P1: {P1_TASKS} tasks at 10 s through cap {CAP}")
        # P1: six caps' worth, as fast as they come.
        details = _details(stack, _create_many(stack, P1_TASKS, "p1"), timeout=300)
        pipelined = _throughput(details)
        peak = fake.state.snapshot()["peak_concurrency"]
        say(f"P1 baseline: {BLOCKING_TASKS} tasks on a blocking worker")
        # The blocking baseline: the same worker, waiting out each generation in its process.
        stack.stop_process("worker")
        stack.start_worker("blocking", concurrency=2, extra_env={"WORKER_BLOCKING_POLL": "1"})
        details = _details(stack, _create_many(stack, BLOCKING_TASKS, "blocking"), timeout=120)
        blocking = _throughput(details)
    finally:
        stack.stop()
    ideal = CAP / LATENCY
    return {
        "P1 completed tasks/s (cap 64, 10 s)": (pipelined, ideal, pipelined / ideal, ">= 0.9 of 64/10"),
        "P1 against the blocking worker": (pipelined, blocking, pipelined / blocking, ">= 25"),
        "P1 peak generations at once": (peak, CAP, peak / CAP, "<= 1"),
        "P4 median end-to-end ÷ upstream 10 s": (overhead * LATENCY, LATENCY, overhead, "<= 1.15"),
    }


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _fmt(value) -> str:
    if value is None:
        return ""
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def main() -> int:
    if not shutil.which("hey") or not shutil.which("redis-server"):
        print("hey and redis-server are needed: run `scripts/test-services` first", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="jimeng-bench-"))
    started = time.monotonic()
    fake = FakeUpstream(FakeConfig(latency=0.0)).start()
    redis_server = RedisServer(workdir).start()
    figures: dict = {}
    try:
        web, stack = web_figures(workdir, fake, redis_server.url)
        figures.update(web)
        try:
            figures.update(memory_figure(stack, fake))
        finally:
            stack.stop()
        redis_server.stop()
        redis_server.start()  # an empty broker for the pipeline runs
        figures.update(pipeline_figures(workdir, fake, redis_server.url))
    finally:
        fake.stop()
        redis_server.stop()
    lines = [
        "# Benchmark figures (`make bench`)",
        "",
        f"{os.cpu_count()} cores; total {round(time.monotonic() - started)} s; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "| figure | measured | baseline | ratio | goal |",
        "|---|---|---|---|---|",
    ]
    for name, (value, baseline, ratio, goal) in figures.items():
        lines.append(f"| {name} | {_fmt(value)} | {_fmt(baseline)} | {_fmt(ratio)} | {goal} |")
    table = "\n".join(lines) + "\n"
    (ROOT / "bench").mkdir(exist_ok=True)
    (ROOT / "bench" / "results.md").write_text(table)
    print(table)
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
