"""Shared fixtures: a real Redis server, and stacks of real web/worker processes."""

from __future__ import annotations

import itertools
import os
import shutil

import pytest
import redis

from .stack import RedisServer, Stack

_redis_db = itertools.count(1)


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    """On SQLite the test database is a file, as in production (WAL, a busy timeout): threads of one
    test then wait for each other's writes, instead of failing on the table locks of Django's default
    shared-cache in-memory test database."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = os.path.join(os.environ["JIMENG_DATA_DIR"], "test-db.sqlite3")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A private redis-server on a free loopback port (installed by `scripts/test-services`)."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed; run the tests with `make test`, which installs it.")
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield {"host": "127.0.0.1", "port": server.port}
    server.stop()


@pytest.fixture(autouse=True)
def _memos_empty():
    """Each test starts with this process's memos empty (a balance set by one test, a generation time
    learned by another, must not decide the next one's path within the memo's second)."""
    from jimeng_server.memo import memos_forget

    memos_forget()


@pytest.fixture
def redis_url(redis_server):
    """A Redis database of its own for one test (databases 1-15 in turn, flushed first)."""
    db = next(_redis_db) % 15 + 1
    redis.Redis(host=redis_server["host"], port=redis_server["port"], db=db).flushdb()
    return f"redis://{redis_server['host']}:{redis_server['port']}/{db}"


@pytest.fixture
def make_stack(tmp_path):
    stacks: list[Stack] = []

    def factory(*, broker_url: str = "filesystem://", env: dict | None = None, name: str = "stack") -> Stack:
        workdir = tmp_path / f"{name}{len(stacks)}"
        workdir.mkdir()
        stack = Stack(workdir, broker_url=broker_url, env=env)
        stacks.append(stack)
        return stack

    yield factory
    for stack in stacks:
        stack.stop()


@pytest.fixture(scope="session")
def _fake_upstream_server():
    from .fakes.upstream import FakeUpstream

    fake = FakeUpstream().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_upstream(_fake_upstream_server):
    """The fake Volcengine (Jimeng + Ark), with fresh settings and counters for each test."""
    from .fakes.upstream import FakeConfig

    _fake_upstream_server.state.reset(FakeConfig(latency=0.2))
    return _fake_upstream_server


@pytest.fixture
def upstream_settings(settings, fake_upstream):
    """Point this process's providers at the fake."""
    config = fake_upstream.config
    settings.VOLCENGINE_ACCESS_KEY = config.access_key
    settings.VOLCENGINE_SECRET_KEY = config.secret_key
    settings.VOLCENGINE_HOST = fake_upstream.host
    settings.VOLCENGINE_SCHEME = "http"
    settings.VOLCENGINE_READ_TIMEOUT_SECONDS = 2
    settings.ARK_API_KEY = config.ark_api_key
    settings.ARK_BASE_URL = fake_upstream.url + "/api/v3"
    settings.ARK_READ_TIMEOUT_SECONDS = 2
    return settings


def upstream_env(fake) -> dict:
    """The environment that points a stack's processes at the fake."""
    return fake.env()


ON_FERRETDB = os.environ.get("JIMENG_TEST_FERRETDB") == "1"


def skip_on_ferretdb(gap: str):
    """Skip a test only in the FerretDB run, naming the MongoDB feature FerretDB v1 lacks. The
    same test runs on SQLite in the same CI run, and on real MongoDB wherever users run it."""
    return pytest.mark.skipif(ON_FERRETDB, reason=f"FerretDB v1.24 lacks {gap}; runs on SQLite and on MongoDB")


@pytest.fixture
def sent(monkeypatch):
    """Messages the services send to the broker, captured instead of sent: ("process" | "poll", args, options)."""
    messages = []

    def capture(name, args, **options):
        messages.append((name.removeprefix("imagetasks."), args, options))

    monkeypatch.setattr("imagetasks.services.scheduling.send", capture)
    return messages


@pytest.fixture
def cap_of_two(settings):
    """The local provider behind a cap of 2 in embedded mode, its generations never ending by themselves
    (tests of the fair order free the slots)."""
    settings.UPSTREAM_CONCURRENCY = {"local": 2}
    settings.CAPACITY_REDIS_URL = ""
    settings.CELERY_BROKER_URL = "filesystem://"  # embedded mode: slots counted in the database
    settings.LOCAL_PROVIDER_LATENCY_SECONDS = 3600
    return settings


@pytest.fixture(params=["database", "redis"])
def jimeng_cap_of_one(request, upstream_settings):
    """The fake Jimeng behind a cap of 1, its slots counted in the database (embedded mode) or in Redis."""
    upstream_settings.UPSTREAM_CONCURRENCY = {"jimeng": 1}
    upstream_settings.CAPACITY_REDIS_URL = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    upstream_settings.CELERY_BROKER_URL = upstream_settings.CAPACITY_REDIS_URL or "filesystem://"
    upstream_settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    return upstream_settings
