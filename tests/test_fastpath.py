"""Every shortcut past the framework gives the same answers as the plain framework path it replaces
(FASTPATH on and off): a task read by key, a task's INSERT, which waited tasks changed, request
serializers built once, and the ASGI handler's one thread hop. (`FASTPATH=off make test` runs the whole suite the plain way.)"""

import asyncio
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from imagetasks import fastpath
from imagetasks.api.serializers import create_serializer
from imagetasks.models import ImageTask, Status
from jimeng_server import fastpath as project_fastpath
from tests.asgi_ask import ask
from tests.create import create_task

pytestmark = pytest.mark.django_db


def _both(settings, call):
    settings.FASTPATH = True
    fast = call()
    settings.FASTPATH = False
    plain = call()
    return fast, plain


def test_a_task_read_is_the_same_either_way(settings):
    task = create_task(user_id="u1", prompt="a cat", size="640x512", seed=7, webhook_url="")
    for owner in (None, "u1", "someone-else"):
        for fields in (None, ("id", "status", "result", "params", "queue_ticket")):
            fast, plain = _both(settings, lambda o=owner, f=fields: fastpath.task_read(task.id, o, f))
            if plain is None:
                assert fast is None
                continue
            names = fields or [field.attname for field in ImageTask._meta.concrete_fields]
            assert {n: getattr(fast, n) for n in names} == {n: getattr(plain, n) for n in names}, (owner, fields)


def test_an_insert_writes_the_same_row_either_way(settings):
    rows = []
    for fast in (True, False):
        settings.FASTPATH = fast
        created = create_task(user_id="u1", prompt="the same cat", size="640x512", external_task_id=f"ext-{fast}")
        stored = ImageTask.objects.get(pk=created.id)
        rows.append({field.attname: getattr(stored, field.attname) for field in ImageTask._meta.concrete_fields})
    for row in rows:
        for varying in ("id", "external_task_id", "outbox_since", "created_at", "updated_at"):
            row.pop(varying)
    assert rows[0] == rows[1]


def test_which_waited_tasks_changed_is_the_same_either_way(settings):
    old, new = create_task(user_id="u1", prompt="old").id, create_task(user_id="u1", prompt="new").id
    then = timezone.now()
    ImageTask.objects.filter(pk=old).update(updated_at=then - timedelta(minutes=1))
    ImageTask.objects.filter(pk=new).update(updated_at=then + timedelta(microseconds=1))
    ids = [old, new, "gone"]
    for since in (then, then - timedelta(minutes=2), then + timedelta(minutes=1)):
        fast, plain = _both(settings, lambda s=since: fastpath.tasks_unchanged(ids, s))
        assert fast == plain, since
    assert fast == {old, new}  # neither changed since two minutes after
    for some in ([], [old], [new, "gone", old], [old] * 5):  # lengths padded to a power of two, and none
        fast, plain = _both(settings, lambda s=some: fastpath.tasks_unchanged(s, then + timedelta(minutes=1)))
        assert fast == plain == set(some) - {"gone"}
    settings.FASTPATH = True
    assert fastpath.tasks_unchanged(ids, then) == {old}  # `new` changed since; `gone` is not there


def test_the_count_ahead_of_a_pending_task_is_the_same_either_way(settings):
    start = timezone.now()
    tasks = [create_task(user_id="u1", prompt=f"task {n}").id for n in range(6)]
    for n, task_id in enumerate(tasks):  # made in this order; 1 and 4 parked behind the cap, 5 running
        ImageTask.objects.filter(pk=task_id).update(
            created_at=start + timedelta(seconds=n),
            waiting_since=start if n in (1, 4) else None,
            status=Status.PROCESSING if n == 5 else Status.PENDING,
        )
    other = create_task(user_id="u1", prompt="another provider's").id
    ImageTask.objects.filter(pk=other).update(provider="other", created_at=start - timedelta(seconds=1))
    counts = []
    for n, task_id in enumerate(tasks[:5]):
        task = ImageTask.objects.get(pk=task_id)
        fast, plain = _both(settings, lambda t=task: fastpath.pending_ahead_count(t.provider, t.created_at, t.id))
        assert fast == plain, n
        counts.append(fast)
    assert counts == [2, 2, 3, 4, 4]  # before it and pending, or parked after it (itself never)


BODIES = [
    {"prompt": "a cat", "user_id": "u1", "size": "1024x1024", "seed": 5},
    {"prompt": "", "user_id": "u 1"},
    {"prompt": "a cat", "user_id": "u1", "duration": 5},
    {"prompt": ["a"], "user_id": "u1", "quality": "ultra"},
]


@pytest.mark.parametrize("body", BODIES)
def test_request_serializers_validate_the_same_either_way(settings, body):
    def validate():
        serializer = create_serializer("image")(data=body)
        valid = serializer.is_valid()
        return valid, json.dumps(serializer.validated_data if valid else serializer.errors, sort_keys=True, default=str)

    fast, plain = _both(settings, validate)
    assert fast == plain


@pytest.mark.django_db(transaction=True)
def test_the_asgi_handler_answers_the_same_either_way(settings):
    from jimeng_server.asgi import Handler

    task = create_task(user_id="u1", prompt="a cat").id

    async def ask_all(application):
        return [
            await ask(application, "/api/v1/ping", "POST", b'{"a": 1}'),
            await ask(application, f"/api/v1/tasks/{task}"),
            await ask(application, "/api/v1/tasks/nope"),
            await ask(application, "/api/v1/ping", "POST", b"{broken"),
        ]

    answers = []
    for fast in (True, False):
        settings.FASTPATH = fast
        answers.append(asyncio.run(ask_all(project_fastpath.asgi_handler(Handler)())))
    for fast, plain in zip(*answers, strict=True):
        assert fast[0] == plain[0]
        assert {k: v for k, v in fast[1].items() if k != "date"} == {k: v for k, v in plain[1].items() if k != "date"}
        assert fast[2] == plain[2]
