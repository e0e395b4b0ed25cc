"""Limits hold under parallel requests: each is an atomic reservation, not count-then-insert. Fired
at a real web server (gunicorn, 2 processes × 8 threads) from 20 client threads at once; and a
retry passes the same limits as a create."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from rest_framework.test import APIClient

from tests.conftest import skip_on_ferretdb
from tests.create import create_task
from users.keys import api_key_create
from users.services import user_create


def _fire(stack, key: str, count: int, user_id: str = "alice") -> list[int]:
    def create(n: int) -> int:
        body = {"prompt": f"parallel {n}", "user_id": user_id}
        headers = {"Authorization": f"Bearer {key}"}
        return requests.post(stack.url("/api/v1/ai/image/task"), json=body, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(20) as pool:
        return list(pool.map(create, range(count)))


def _stack(make_stack, redis_url, **env):
    stack = make_stack(broker_url=redis_url, env={"API_AUTH": "required", **env})
    stack.start(worker=False, web_workers=2, web_threads=8)  # no worker: every created task stays active
    key = stack.manage("create_api_key", "--service", "--name", "tests").strip().split()[-1]
    return stack, key


@pytest.mark.stack
def test_the_rate_limit_holds_under_parallel_requests(make_stack, redis_url):
    stack, key = _stack(make_stack, redis_url, API_RATE_LIMIT="30/min")
    if time.time() % 60 > 45:  # the limit counts in minute windows: start the burst early in one
        time.sleep(60 - time.time() % 60 + 0.5)
    started = time.time()
    codes = _fire(stack, key, 60)
    assert time.time() // 60 == started // 60, "the burst crossed a window boundary"
    assert (codes.count(202), codes.count(429)) == (30, 30), codes


@pytest.mark.stack
@skip_on_ferretdb("atomic conditional updates under concurrent writers")
def test_the_active_task_cap_holds_under_parallel_requests(make_stack, redis_url):
    stack, key = _stack(make_stack, redis_url, API_RATE_LIMIT="", USER_MAX_ACTIVE_TASKS="5")
    codes = _fire(stack, key, 40)
    assert (codes.count(202), codes.count(429)) == (5, 35), codes


@pytest.mark.stack
@skip_on_ferretdb("atomic conditional updates under concurrent writers")
def test_the_daily_quota_holds_under_parallel_requests(make_stack, redis_url):
    stack, key = _stack(make_stack, redis_url, API_RATE_LIMIT="", USER_DAILY_TASK_QUOTA="7")
    codes = _fire(stack, key, 40)
    assert (codes.count(202), codes.count(429)) == (7, 33), codes


@pytest.mark.django_db
def test_retry_passes_the_same_limits_as_create(settings):
    """create 5, cancel 5, create 3, retry 5: only 2 retries fit under a cap of 5 active tasks."""
    settings.API_KEYS_REQUIRED = True
    settings.USER_MAX_ACTIVE_TASKS = 5
    settings.API_RATE_LIMIT = ""
    user_create(user_id="alice", email="alice@example.com")
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user_id='alice')[1]}")
    body = {"prompt": "a cat", "user_id": "alice"}
    first = [client.post("/api/v1/ai/image/task", body, format="json").json()["data"]["task_id"] for _ in range(5)]
    for task_id in first:
        assert client.post(f"/api/v1/tasks/{task_id}/cancel").status_code == 200
    assert [client.post("/api/v1/ai/image/task", body, format="json").status_code for _ in range(3)] == [202] * 3
    retries = [client.post(f"/api/v1/tasks/{task_id}/retry") for task_id in first]
    assert [r.status_code for r in retries] == [202, 202, 429, 429, 429]
    assert retries[2].json()["message"].startswith("User 'alice' already has 5 tasks waiting or running")
    statuses = [client.get(f"/api/v1/tasks/{task_id}").json()["data"]["status"] for task_id in first]
    assert statuses == ["pending", "pending", "canceled", "canceled", "canceled"]


@pytest.mark.django_db
def test_a_counter_left_off_by_a_crash_is_set_right_by_the_reconciler(settings):
    from datetime import timedelta

    from django.utils import timezone

    from imagetasks import services
    from users.models import UsageCounter

    settings.USER_MAX_ACTIVE_TASKS = 3
    task = create_task(user_id="bob", prompt="a cat")
    # A crash between a task's end and its give-back leaves the counter one too high.
    UsageCounter.objects.filter(pk="active|bob").update(value=3, updated_at=timezone.now() - timedelta(hours=1))
    assert services.active_counters_resync(timezone.now() - timedelta(minutes=1)) == 1
    assert UsageCounter.objects.get(pk="active|bob").value == 1
    services.task_cancel(task_id=task.id)
    assert UsageCounter.objects.get(pk="active|bob").value == 0
