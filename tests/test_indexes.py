"""Every hot lookup has an index, and the database uses it (QuerySet.explain())."""

import re

import pytest
from django.db import connection
from django.utils import timezone

from imagetasks.models import ImageTask, Status
from jimeng_server.mongodb.lookups import string_indexed
from tests.conftest import ON_FERRETDB

pytestmark = pytest.mark.django_db

# lookup -> (queryset factory, index that must serve it)
HOT_LOOKUPS = {
    # SQLite names the index of a unique column itself (sqlite_autoindex_users_user_N).
    "user by email": (
        lambda: _user_model().objects.filter(email="a@example.com", **string_indexed("email")),
        "users_user_email" if connection.vendor == "mongodb" else "sqlite_autoindex_users_user",
    ),
    "task by user and external id": (
        lambda: ImageTask.objects.filter(
            user_id="u1", external_task_id="order-1", **string_indexed("user_id", "external_task_id")
        ),
        # (SQLite keeps a unique constraint without condition in the table: an autoindex)
        "imagetask_unique_external_id_per_user"
        if connection.vendor == "mongodb"
        else "sqlite_autoindex_imagetasks_imagetask",
    ),
    "reconciler sweep by status and age": (
        lambda: ImageTask.objects.filter(status=Status.PENDING, updated_at__lt="2026-01-01T00:00:00Z"),
        "imagetask_status_updated",
    ),
    "the first task in a provider's fair line (a slot freed)": (
        lambda: (
            ImageTask.objects.filter(
                provider="jimeng", queue_ticket__isnull=False, waiting_since__isnull=False, status=Status.PENDING
            )
            .order_by("queue_ticket", "waiting_since", "id")
            .values_list("id", "user_id")[:1]
        ),
        "imagetask_fair_line",
    ),
    "a user's last start tag in a provider's line (a task parks)": (
        lambda: (
            ImageTask.objects.filter(
                provider="jimeng", waiting_since__isnull=False, queue_ticket__isnull=False, user_id="u1"
            )
            .order_by("-queue_ticket")
            .values_list("queue_ticket", flat=True)[:1]
        ),
        "imagetask_fair_user",
    ),
    "new tasks for the dispatcher (the outbox)": (
        lambda: ImageTask.objects.filter(outbox_since__isnull=False).order_by("outbox_since").values_list("id")[:500],
        "imagetask_outbox",
    ),
    "tasks whose files are past retention, oldest first": (
        lambda: (
            ImageTask.objects.filter(files_expired_at__isnull=True, finished_at__lt="2026-01-01T00:00:00Z")
            .only("id", "result")
            .order_by("finished_at")[:200]
        ),
        "imagetask_retention",
    ),
    "videos (or images) of a status, for /metrics": (
        lambda: ImageTask.objects.filter(kind="video", status=Status.PENDING),
        "imagetask_kind_status",
    ),
    "a user's tasks, newest first": (
        lambda: ImageTask.objects.filter(user_id="u1").order_by("-created_at"),
        "imagetask_user_created",
    ),
}


def _user_model():
    from users.models import User

    return User


@pytest.mark.skipif(connection.vendor != "mongodb", reason="MongoDB only: the index definitions as created")
def test_indexes_exist_on_mongodb():
    keys = {}
    for collection in ("imagetasks_imagetask", "users_user"):
        for index in connection.get_collection(collection).list_indexes():
            keys[index["name"]] = list(index["key"])
    assert keys["imagetask_user_created"] == ["user_id", "created_at"]
    assert keys["imagetask_status_updated"] == ["status", "updated_at"]
    assert keys["imagetask_kind_status"] == ["kind", "status"]
    assert keys["imagetask_waiting"] == ["provider", "waiting_since"]
    assert keys["imagetask_fair_line"] == ["provider", "queue_ticket"]
    assert keys["imagetask_fair_user"] == ["user_id", "provider", "queue_ticket"]
    assert keys["imagetask_outbox"] == ["outbox_since"]
    assert keys["imagetask_retention"] == ["files_expired_at", "finished_at"]
    assert keys["imagetask_unique_external_id_per_user"] == ["user_id", "external_task_id"]
    assert any(name.startswith("users_user_email") and key == ["email"] for name, key in keys.items())


@pytest.fixture
def enough_rows():
    """On an engine with a cost-based planner (FerretDB v2 on PostgreSQL), a table of a few rows is
    cheaper to scan than to search, and the plan then depends on whether statistics were gathered yet.
    With thousands of rows, of which each hot lookup selects a handful, an index is the plan either way."""
    if connection.vendor != "mongodb":
        return  # SQLite's planner searches an index for these whatever the table holds
    from users.models import User

    users = [User(id=f"bulk{n}", email=f"bulk{n}@example.com") for n in range(400)]
    User.objects.bulk_create(users)
    statuses = [Status.COMPLETED, Status.FAILED, Status.CANCELED]
    ImageTask.objects.bulk_create(
        ImageTask(
            user_id=f"bulk{n % 400}",
            external_task_id=f"bulk-{n}",
            provider=f"p{n % 50}",
            model="m",
            prompt="p",
            status=statuses[n % 3],
            kind="image",
            finished_at=None,
            files_expired_at=timezone.now(),
        )
        for n in range(3000)
    )


@pytest.mark.parametrize("lookup", list(HOT_LOOKUPS))
@pytest.mark.skipif(
    ON_FERRETDB,
    reason="FerretDB v1.24 lacks aggregation pushdown (its explain shows backend scans, filterPushdown false); "
    "runs on SQLite and on MongoDB",
)
def test_explain_shows_the_index(lookup, enough_rows):
    queryset, index = HOT_LOOKUPS[lookup]
    plan = queryset().explain()
    if connection.vendor == "mongodb":
        # A search of an index, never a scan of the collection. Which index, when several serve the
        # lookup, is the planner's choice on these engines: FerretDB v2's (PostgreSQL's, costed) took
        # a user's line index for a user's tasks by time and for a provider's line, with thousands of
        # rows or a few — the named index exists (test_indexes_exist_on_mongodb) and SQLite's
        # planner, which CI runs, is shown using it below. MongoDB: an IXSCAN stage; an engine on
        # PostgreSQL (FerretDB v2 with DocumentDB): an (Bitmap) Index Scan with "Index Name".
        assert "IXSCAN" in plan or re.search(r"Index Name.{0,6}imagetask_|Index Name.{0,6}users_user", plan), plan
        assert "COLLSCAN" not in plan and "Seq Scan" not in plan, plan
    else:
        # A search of the index, not a scan of all of it (which SQLite also reports "USING INDEX").
        assert re.search(rf"SEARCH \S+ USING (COVERING )?INDEX {index}", plan), plan
