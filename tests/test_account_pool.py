"""The upstream account pool: a submit takes a slot on the least-loaded account with room; per-account
caps hold across workers; a task is polled (and canceled) only with the account that submitted it;
an account whose keys are refused leaves rotation with a readable reason while the others finish the
work; an operator puts it back. The same for Ark keys."""

import json
import time

import pytest
from django.core.management import call_command

from imagetasks.capacity import DatabaseCapacity, RedisCapacity
from imagetasks.models import ImageTask, UpstreamAccount
from imagetasks.services import accounts as pool
from providers.base import Account
from providers.volcengine import visual_service
from tests.conftest import skip_on_ferretdb
from tests.create import create_task

ACCOUNTS = [Account("a", concurrency=2), Account("b", concurrency=2, weight=2), Account("c", concurrency=1)]


def _tasks(count: int) -> list[ImageTask]:
    from users.models import User

    User.objects.get_or_create(id="u1")
    return [
        ImageTask.objects.create(user_id="u1", prompt=f"p{n}", model="jimeng_t2i_v30", provider="jimeng")
        for n in range(count)
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("backend", ["redis", "database"])
def test_slots_go_to_the_least_loaded_account_by_weight_and_no_account_passes_its_cap(backend, redis_url, settings):
    import redis

    settings.UPSTREAM_CONCURRENCY, settings.MODEL_CONCURRENCY = {}, {}
    settings.VOLCENGINE_ACCOUNTS = [
        {"name": a.name, "access_key": "AK", "secret_key": "SK", "concurrency": a.concurrency, "weight": a.weight}
        for a in ACCOUNTS
    ]
    capacity = RedisCapacity(redis.Redis.from_url(redis_url)) if backend == "redis" else DatabaseCapacity()
    tasks = _tasks(6)
    chosen = [capacity.acquire(task, ACCOUNTS) for task in tasks]
    # a (0/1), b (0/2), c (0/1) → a; b (0/2) → b; c → c; then a 1/1, b 1/2=0.5, c full → b; a … b full
    assert chosen[:5] == ["a", "b", "c", "b", "a"]
    assert chosen[5] is None  # every account at its cap
    tasks[1].account = "b"
    capacity.release(tasks[1])
    assert capacity.acquire(tasks[5], ACCOUNTS) == "b"
    assert capacity.acquire(tasks[0], ACCOUNTS) == "a"  # one already holding a slot keeps its account


def test_each_account_signs_with_its_own_keys_and_the_sdk_singleton_cannot_reset_them(settings):
    from volcengine.visual.VisualService import VisualService

    first = visual_service(Account("one", credentials=("AK1", "SK1")))
    second = visual_service(Account("two", credentials=("AK2", "SK2")))
    VisualService()  # somebody else's code resets the SDK's shared instance
    assert first is not second
    assert (first.service_info.credentials.ak, second.service_info.credentials.ak) == ("AK1", "AK2")
    assert "SK1" not in repr(Account("one", credentials=("AK1", "SK1")))


def _pool_stack(make_stack, redis_url, fake, *, latency: float):
    fake.config.latency = latency
    env = fake.pool_env(3, 4) | {"TASK_RETRY_BACKOFF_SECONDS": "0.5"}
    stack = make_stack(broker_url=redis_url, env=env).start(worker=False, io_worker=True)
    stack.start_worker("worker", concurrency=2)
    return stack


def _run_and_revoke(stack, fake, *, model: str, revoke: str, after_submissions: int) -> list[dict]:
    ids = [stack.create_task(prompt=f"pool {n}", model=model) for n in range(100)]
    deadline = time.monotonic() + 60
    while fake.state.snapshot()["total_submissions"] < after_submissions and time.monotonic() < deadline:
        time.sleep(0.2)
    fake.config.revoked.append(revoke)  # the account's keys are revoked at the upstream, mid-run
    return [stack.wait_terminal(task_id, timeout=300) for task_id in ids]


def _health_account(stack, provider: str, name: str) -> dict:
    health = stack.session.get(stack.url("/health"), timeout=10).json()["data"]
    assert "SKPOOL" not in json.dumps(health) and "ark-pool-" not in json.dumps(health)  # no secrets
    return next(a for a in health["accounts"] if (a["provider"], a["name"]) == (provider, name))


@pytest.mark.stack
@skip_on_ferretdb("atomic single-document updates: two workers' concurrent claims of one task can both succeed")
def test_three_jimeng_accounts_run_12_at_once_and_one_revoked_leaves_rotation(make_stack, redis_url, fake_upstream):
    stack = _pool_stack(make_stack, redis_url, fake_upstream, latency=5.0)
    results = _run_and_revoke(stack, fake_upstream, model="jimeng_t2i_v30", revoke="AKPOOLB", after_submissions=24)
    assert [r["status"] for r in results].count("completed") == 100
    state = fake_upstream.state.snapshot()
    assert state["peak_concurrency"] == 12
    assert max(state["peak_by_account"].values()) == 4
    assert state["foreign_requests"] == 0  # no poll or cancel of a task with another account's keys
    account = _health_account(stack, "jimeng", "b")
    assert not account["in_rotation"] and "InvalidAccessKey" in account["reason"]
    submitted_by_b = state["submissions_by_account"]["AKPOOLB"]
    assert sum(state["submissions_by_account"].values()) - submitted_by_b >= 100 - submitted_by_b
    # An operator puts it back (keys fixed): new work goes to it again.
    fake_upstream.config.revoked.clear()
    stack.manage("accounts", "--restore", "jimeng:b")
    assert _health_account(stack, "jimeng", "b")["in_rotation"]


@pytest.mark.stack
@skip_on_ferretdb("atomic single-document updates: two workers' concurrent claims of one task can both succeed")
def test_three_ark_keys_run_12_at_once_and_one_revoked_leaves_rotation(make_stack, redis_url, fake_upstream):
    stack = _pool_stack(make_stack, redis_url, fake_upstream, latency=5.0)
    results = _run_and_revoke(
        stack, fake_upstream, model="doubao-seedream-3-0-t2i-250415", revoke="ark-pool-c", after_submissions=24
    )
    assert [r["status"] for r in results].count("completed") == 100
    state = fake_upstream.state.snapshot()
    assert state["peak_concurrency"] == 12
    assert max(state["peak_by_account"].values()) == 4
    account = _health_account(stack, "ark", "c")
    assert not account["in_rotation"] and "AuthenticationError" in account["reason"]


@pytest.mark.django_db(transaction=True)
def test_with_every_account_out_of_rotation_a_task_fails_at_once_saying_why(upstream_settings):
    from tests.drive import drive

    settings = upstream_settings
    settings.PROVIDER_MODE = "live"
    settings.VOLCENGINE_ACCOUNTS = [{"name": "only", "access_key": "AKFAKEEXAMPLE", "secret_key": "SKFAKEEXAMPLE"}]
    pool.account_take_out(provider="jimeng", name="only", reason="keys revoked (InvalidAccessKey)")

    task = create_task(user_id="u1", prompt="a cat", model="jimeng_t2i_v30")
    drive(task.id)
    task.refresh_from_db()
    assert task.status == "failed" and task.error_code == "no_account"
    assert "only: keys revoked (InvalidAccessKey)" in task.error_message
    assert UpstreamAccount.objects.get(pk="jimeng:only").in_rotation is False
    call_command("accounts", "--restore", "jimeng:only")
    assert UpstreamAccount.objects.get(pk="jimeng:only").in_rotation is True


@pytest.mark.django_db(transaction=True)
def test_an_account_taken_out_for_refused_keys_is_back_once_configured_with_other_keys(settings):
    from providers import registry

    settings.VOLCENGINE_ACCOUNTS = [{"name": "main", "access_key": "AKOLD", "secret_key": "SKOLD"}]
    jimeng = registry.provider_get("jimeng")
    old = jimeng.account("main")
    pool.account_take_out(provider="jimeng", name="main", reason="InvalidAccessKey", keys=old.fingerprint)
    assert pool.accounts_for_work(jimeng) == []
    settings.VOLCENGINE_ACCOUNTS = [{"name": "main", "access_key": "AKNEW", "secret_key": "SKNEW"}]
    assert [a.name for a in pool.accounts_for_work(jimeng)] == ["main"]
    assert "SKOLD" not in old.fingerprint and len(old.fingerprint) == 16


@pytest.mark.django_db(transaction=True)
def test_a_throttled_account_rests_while_the_others_take_new_work(settings):
    from providers import registry
    from providers.base import UpstreamError

    settings.ACCOUNT_REST_SECONDS = 30
    settings.VOLCENGINE_ACCOUNTS = [
        {"name": n, "access_key": f"AK{n}", "secret_key": f"SK{n}", "concurrency": 2} for n in ("a", "b")
    ]
    from imagetasks.services.lifecycle import upstream_failed

    jimeng = registry.provider_get("jimeng")
    (task,) = _tasks(1)
    task.account = "a"
    throttled = UpstreamError(
        "Volcengine concurrency limit reached (50430)", code="50430", retryable=True, throttled=True
    )
    upstream_failed(task, throttled)
    assert [a.name for a in pool.accounts_for_work(jimeng)] == ["b"]
    pool.account_rest(provider="jimeng", name="b")  # all resting: the upstream's own answer decides
    assert [a.name for a in pool.accounts_for_work(jimeng)] == ["a", "b"]


@pytest.mark.django_db(transaction=True)
def test_accounts_show_in_metrics_without_their_keys(settings, client):
    settings.PROVIDER_MODE = "auto"
    settings.METRICS_TOKEN = ""
    settings.VOLCENGINE_ACCOUNTS = [{"name": "main", "access_key": "AKMAIN", "secret_key": "SKSECRETMAIN"}]
    pool.account_take_out(provider="jimeng", name="main", reason="keys refused (InvalidAccessKey)")
    text = client.get("/metrics").content.decode()
    assert 'jimeng_account_in_rotation{account="main",provider="jimeng"} 0.0' in text
    assert "SKSECRETMAIN" not in text
    health = client.get("/health").json()["data"]
    assert health["accounts_out_of_rotation"] == ["jimeng:main"] and "SKSECRETMAIN" not in json.dumps(health)


@pytest.mark.stack
@skip_on_ferretdb("atomic single-document updates: two workers' concurrent claims of one task can both succeed")
def test_embedded_mode_runs_three_accounts_of_4_twelve_at_once(make_stack, fake_upstream):
    """As `make run` runs it (no Redis: the filesystem broker, slots as counter rows in the database):
    the same 12 at once as with Redis, 4 on each account."""
    fake_upstream.config.latency = 5.0
    stack = make_stack(env=fake_upstream.pool_env(3, 4)).start(worker=False, io_worker=True)
    stack.start_worker("worker", concurrency=2)
    ids = [stack.create_task(prompt=f"pool {n}", model="jimeng_t2i_v30") for n in range(40)]
    results = [stack.wait_terminal(task_id, timeout=180) for task_id in ids]
    assert [r["status"] for r in results].count("completed") == 40
    state = fake_upstream.state.snapshot()
    assert state["peak_concurrency"] == 12
    assert sorted(state["peak_by_account"].values()) == [4, 4, 4]
