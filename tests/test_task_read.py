"""A task read by its key (every poll, every worker turn) is one query, compiled once per process on
SQL databases, and gives exactly what the ORM would: the same values, converted the same way, only
the fields asked for, and nobody else's task."""

from datetime import UTC, datetime

import pytest

from imagetasks import selectors
from imagetasks.models import ImageTask, Status
from jimeng_server.errors import NotFound
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def task():
    User.objects.create(id="u1")
    return ImageTask.objects.create(
        user_id="u1",
        prompt="a lighthouse",
        model="jimeng_t2i_v30",
        provider="jimeng",
        status=Status.COMPLETED,
        params={"width": 1328, "seed": 7},
        result={"images": [{"name": "a.png", "width": 1328}]},
        finished_at=datetime(2026, 11, 30, 12, 0, 1, 250000, tzinfo=UTC),
    )


def test_the_read_gives_what_the_orm_gives_field_by_field(task, django_assert_num_queries):
    expected = ImageTask.objects.get(pk=task.pk)
    for _ in range(2):  # the first read compiles the shape, the second only runs it
        with django_assert_num_queries(1):
            read = selectors.task_get(task_id=task.pk, owner="u1")
        for field in ImageTask._meta.concrete_fields:
            assert getattr(read, field.attname) == getattr(expected, field.attname), field.name
    assert read.finished_at == datetime(2026, 11, 30, 12, 0, 1, 250000, tzinfo=UTC)
    assert read.result["images"][0]["width"] == 1328 and read.params == {"width": 1328, "seed": 7}


def test_a_poll_loads_only_the_summary_fields(task):
    read = selectors.task_get(task_id=task.pk, owner="u1", fields=selectors.SUMMARY_FIELDS)
    loaded = {field.attname for field in ImageTask._meta.concrete_fields} - read.get_deferred_fields()
    assert loaded == {ImageTask._meta.get_field(name).attname for name in selectors.SUMMARY_FIELDS}
    assert (read.status, read.result) == (Status.COMPLETED, task.result)


def test_another_users_task_and_a_missing_one_are_not_found(task):
    with pytest.raises(NotFound):
        selectors.task_get(task_id=task.pk, owner="u2")
    with pytest.raises(NotFound):
        selectors.task_get(task_id="no-such-task", owner="u1", fields=selectors.SUMMARY_FIELDS)
    assert selectors.task_find(task_id="no-such-task") is None
    assert selectors.task_find(task_id=task.pk).user_id == "u1"  # no owner: the operator's view
