"""Every query the product issues compiles to MQL under django-mongodb-backend — without a server.

The product's own code paths run here on the suite's database while every query Django executes is
recorded; each recorded query is then compiled by the MongoDB backend's compiler against a
connection that never connects. An ORM feature the backend does not support (NotSupportedError)
fails this test even where no MongoDB is at hand, and even for shapes FerretDB cannot run."""

import pytest
from django.contrib.admin.sites import site
from django.db import connections
from django.db.models.sql import compiler as sql_compiler
from django.test import RequestFactory

from imagetasks import selectors, services
from imagetasks.capacity import DatabaseCapacity
from imagetasks.models import ImageTask
from tests.create import create_task
from tests.drive import drive
from users import selectors as user_selectors
from users import services as user_services

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connections["default"].vendor == "mongodb",
        reason="on MongoDB (the FerretDB run, an external server) the suite executes every query for real; "
        "this is the SQLite run's check",
    ),
]

ALIAS = "mql_compile_only"


@pytest.fixture
def compile_only_alias():
    connections.settings[ALIAS] = {
        **connections.settings["default"],
        "ENGINE": "jimeng_server.mongodb",
        "HOST": "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=50",  # nothing listens: compile only
        "NAME": "compile_only",
        "OPTIONS": {},
        "TIME_ZONE": None,
    }
    yield ALIAS
    connection = connections[ALIAS]
    connection.close()
    del connections[ALIAS]
    del connections.settings[ALIAS]


@pytest.fixture
def recorded(monkeypatch):
    """(kind, query) for every query Django executes while the fixture is active."""
    queries = []
    for kind, cls in (
        ("select", sql_compiler.SQLCompiler),
        ("update", sql_compiler.SQLUpdateCompiler),
        ("delete", sql_compiler.SQLDeleteCompiler),
    ):
        original = cls.execute_sql

        def execute_sql(self, *args, _original=original, _kind=kind, **kwargs):
            if type(self).__module__.startswith("django.db.models"):
                kind = {sql_compiler.SQLUpdateCompiler: "update", sql_compiler.SQLDeleteCompiler: "delete"}.get(
                    type(self), "select"
                )
                if kind == _kind:
                    queries.append((kind, self.query.clone()))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "execute_sql", execute_sql)
    return queries


def _product_workflows(settings):
    """The product's reads and writes, as the API, workers, reconciler, admin and CLI issue them."""
    settings.UPSTREAM_CONCURRENCY = {"local": 4}
    settings.LOCAL_PROVIDER_LATENCY_SECONDS = 0
    user = user_services.user_create(email="ops@example.com", name="Ops", user_id="u1")
    user_services.user_update(user_id="u1", name="Ops 2", email="ops2@example.com", set_email=True)
    user_selectors.user_get_by_email(email="ops2@example.com")
    first = create_task(user_id="u1", prompt="a cat", external_task_id="order-1")
    second = create_task(user_id="u2", prompt="a dog")
    DatabaseCapacity().acquire(first)
    drive(first.id)
    DatabaseCapacity().release(first)
    services.task_cancel(task_id=second.id)
    services.task_retry(task_id=second.id)
    services.tasks_reconcile()
    selectors.task_get_by_external_id(user_id="u1", external_task_id="order-1")
    tasks = selectors.task_list_for_user(user_id="u1", status="completed")
    tasks.count()
    list(tasks[0:20])
    selectors.task_counts_by_status()
    admin = site._registry[ImageTask]
    request = RequestFactory().get("/admin/imagetasks/imagetask/", {"q": "ops"})
    queryset, _ = admin.get_search_results(request, admin.get_queryset(request), "ops")
    list(queryset.select_related(*admin.list_select_related)[:100])
    user_services.user_delete(user_id=user.id)


def _compile(kind, query, alias, captured):
    query = query.clone()
    if kind == "select":
        compiler = query.get_compiler(alias)
        compiler.pre_sql_setup()
        compiler.build_query(compiler.columns if query.annotations or not query.default_cols else None)
    else:  # run against the compile-only connection with the write itself intercepted
        query.get_compiler(alias).execute_sql(sql_compiler.MULTI if kind == "delete" else None)
    return captured


def test_every_product_query_compiles_under_the_mongodb_backend(settings, recorded, compile_only_alias, monkeypatch):
    from django_mongodb_backend.compiler import SQLUpdateCompiler
    from django_mongodb_backend.query import MongoQuery

    _product_workflows(settings)
    assert len(recorded) > 40

    captured = []
    monkeypatch.setattr(SQLUpdateCompiler, "update", lambda self, criteria, pipeline: captured.append(pipeline) or 1)
    monkeypatch.setattr(MongoQuery, "delete", lambda self: captured.append(self.match_mql) or 0)
    shapes = set()
    for kind, query in recorded:
        _compile(kind, query, compile_only_alias, captured)  # NotSupportedError fails the test here
        shapes.add((kind, query.model.__name__ if query.model else None))
    assert {("select", "ImageTask"), ("update", "ImageTask"), ("delete", "ImageTask"), ("select", "User")} <= shapes
    assert captured  # updates and deletes were compiled to MQL too
