"""`make scale`: two hosts, no shared disk, one host killed mid-run.

Two "hosts" run as separate process trees with separate working folders (each: a web server, a
worker and beat), sharing only the network services a real deployment shares: Redis, a MongoDB-wire
server (FerretDB) and an S3 server (SeaweedFS). Tasks are created through host A's web server and
read, waited on and downloaded through host B's; while the fake upstream (5 s per generation) works
on them, every process of host A is killed with SIGKILL. Host B's worker and reconciler finish what
A left. Figures: N/N completed, 0 lost, 0 duplicate upstream submissions, every image downloaded
through B from the bucket, no image file on either host's disk. Exits 1 when one misses.

Bounded: loopback only, TASKS tasks, a few minutes."""

from __future__ import annotations

import io
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from tests.fakes.upstream import FakeConfig, FakeUpstream  # noqa: E402
from tests.stack import TERMINAL, FerretDBServer, RedisServer, S3Server, Stack  # noqa: E402

TASKS = 120
LATENCY = 5.0
CAP = 24
KILL_AFTER_SECONDS = 8
DEADLINE_SECONDS = 240


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _host(workdir: Path, name: str, env: dict) -> Stack:
    folder = workdir / name
    folder.mkdir()
    return Stack(folder, broker_url=env.pop("CELERY_BROKER_URL"), env=env, host=name)


def _statuses(stack: Stack, ids: list[str]) -> dict[str, str]:
    with ThreadPoolExecutor(8) as pool:
        return dict(zip(ids, pool.map(lambda task_id: stack.result(task_id)["status"], ids), strict=True))


def _image_files(stack: Stack) -> list[Path]:
    media = stack.data_dir / "media"
    return [path for path in media.rglob("*") if path.is_file()] if media.exists() else []


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="jimeng-scale-"))
    started = time.monotonic()
    fake = FakeUpstream(FakeConfig(latency=LATENCY)).start()
    redis_server = RedisServer(workdir).start()
    say("shared services: Redis, FerretDB (MongoDB wire), SeaweedFS (S3)")
    mongo = FerretDBServer(workdir).start()
    s3 = S3Server(workdir).start()
    shared = {
        **fake.env(),
        **s3.env(),
        **mongo.harness_env(),
        "MONGODB_URI": mongo.uri,
        "MONGODB_DATABASE": "scale",
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",  # the fake's image URLs are on loopback
        "UPSTREAM_CONCURRENCY": f"jimeng={CAP}",
        "API_RATE_LIMIT": "",
        "USER_DAILY_TASK_QUOTA": "0",
        "USER_MAX_ACTIVE_TASKS": "0",
        # A dead host's work is taken over within seconds, not the production minutes (but not so
        # soon that a backlog still on its way through the broker is sent again).
        "RECONCILE_INTERVAL_SECONDS": "2",
        "TASK_REQUEUE_AFTER_SECONDS": "20",
        "TASK_LEASE_SECONDS": "10",
    }
    host_a = _host(workdir, "host-a", {**shared, "CELERY_BROKER_URL": redis_server.url})
    host_b = _host(workdir, "host-b", {**shared, "CELERY_BROKER_URL": redis_server.url})
    figures: dict = {}
    try:
        say("host A and host B: web + worker + beat each, separate folders")
        host_a.start(beat=True)
        host_b.start(beat=True)
        say(f"{TASKS} tasks created through host A (fake upstream at {LATENCY:g} s, cap {CAP})")
        with ThreadPoolExecutor(8) as pool:
            ids = list(
                pool.map(lambda n: host_a.create_task(prompt=f"scale {n}", model="jimeng_t2i_v30"), range(TASKS))
            )
        seen_on_b = sum(status in {"pending", "processing"} | TERMINAL for status in _statuses(host_b, ids).values())
        time.sleep(KILL_AFTER_SECONDS)
        before_kill = _statuses(host_b, ids)
        say(f"kill -9 every process of host A ({sum(s == 'completed' for s in before_kill.values())} completed so far)")
        for name in list(host_a.processes):
            host_a.kill_group(name)
        deadline = time.monotonic() + DEADLINE_SECONDS
        statuses = before_kill
        while time.monotonic() < deadline:
            statuses = _statuses(host_b, ids)
            if all(status in TERMINAL for status in statuses.values()):
                break
            time.sleep(1)
        completed = [task_id for task_id, status in statuses.items() if status == "completed"]
        say("every image downloaded through host B")
        downloaded = 0
        for task_id in completed:
            url = host_b.result(task_id)["result"]["image_url"]
            assert url.startswith(host_b.base_url), url  # B's own stable URL, redirecting to the bucket
            answer = host_b.session.get(url, timeout=10)
            if answer.status_code == 200 and Image.open(io.BytesIO(answer.content)).format in {"PNG", "JPEG"}:
                downloaded += 1
        submissions = fake.state.snapshot()["submissions"]
        twice = {prompt: count for prompt, count in submissions.items() if prompt.startswith("scale") and count > 1}
        duplicates = sum(count - 1 for count in twice.values())
        for prompt, count in twice.items():  # what happened to it, for the log
            task_id = ids[int(prompt.split()[1])]
            detail = host_b.session.get(host_b.url(f"/api/v1/tasks/{task_id}"), timeout=10).json()["data"]
            say(f"submitted {count}x: {task_id} attempts={detail['attempts']} started={detail['started_at']}")
        figures = {
            "tasks created on host A": len(ids),
            "read on host B right after": seen_on_b,
            "completed before host A was killed": sum(s == "completed" for s in before_kill.values()),
            "completed": len(completed),
            "lost (not completed)": len(ids) - len(completed),
            "duplicate upstream submissions": duplicates,
            "images downloaded through host B": downloaded,
            "objects in the bucket": len(s3.keys("images/")),
            "image files on the hosts' disks": len(_image_files(host_a)) + len(_image_files(host_b)),
            # Accepted by the upstream just before host A died, recovered from the journal by B.
            "submissions adopted from the journal": sum(
                int(n) for n in re.findall(r"'adopted': (\d+)", (host_b.workdir / "worker.log").read_text())
            ),
            "seconds": round(time.monotonic() - started),
        }
    finally:
        host_a.stop()
        host_b.stop()
        s3.stop()
        mongo.stop()
        redis_server.stop()
        fake.stop()
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"  {name:<{width}}  {value}")
    ok = (
        figures.get("completed") == TASKS
        and figures["duplicate upstream submissions"] == 0
        and figures["images downloaded through host B"] == TASKS
        and figures["read on host B right after"] == TASKS
        and figures["image files on the hosts' disks"] == 0
    )
    if not ok:
        print(f"make scale: below goal; logs kept in {workdir}", file=sys.stderr)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    print("make scale: every task completed exactly once across two hosts, one of them killed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
