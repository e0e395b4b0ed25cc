"""Upgrading a database made by an earlier release: 0009 replaces the first unique index of
(user, external id), which 0001 created before it stopped doing so, and turns "" into NULL."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from imagetasks.models import ImageTask

OLD_INDEX = "imagetask_unique_external_id_per_user"


def _index_names() -> set[str]:
    if connection.vendor == "mongodb":
        return set(connection.get_collection("imagetasks_imagetask").index_information())
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'imagetasks_imagetask'")
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.django_db(transaction=True)
def test_0009_replaces_the_old_index_and_empty_external_ids():
    before = [("imagetasks", "0008_retention"), ("users", "0003_usage_counters")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps  # the models as an earlier release had them
    user = old.get_model("users", "User").objects.create(id="old")
    for n in range(2):
        old.get_model("imagetasks", "ImageTask").objects.create(
            id=f"t{n}", user=user, external_task_id="", provider="local", model="m", prompt="p"
        )
    # The index 0001 made on a database created before (on MongoDB: an index of that name).
    if connection.vendor == "mongodb":
        keys = [("user_id", 1), ("external_task_id", 1)]
        connection.get_collection("imagetasks_imagetask").create_index(keys, name=OLD_INDEX)
    else:
        with connection.cursor() as cursor:
            cursor.execute(
                f'CREATE UNIQUE INDEX "{OLD_INDEX}" ON imagetasks_imagetask (user_id, external_task_id) '
                "WHERE external_task_id > ''"
            )
    assert OLD_INDEX in _index_names()

    call_command("migrate", verbosity=0)

    assert list(ImageTask.objects.filter(user_id="old").values_list("external_task_id", flat=True)) == [None, None]
    if connection.vendor == "mongodb":
        index = connection.get_collection("imagetasks_imagetask").index_information()[OLD_INDEX]
        assert index["key"] == [("user_id", 1), ("external_task_id", 1)] and index.get("unique") in (True, None)
    else:
        assert OLD_INDEX not in _index_names()  # SQLite keeps the new constraint in the table itself
