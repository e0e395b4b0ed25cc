"""Tasks waiting for a slot start in a fair order over users (imagetasks/services/fair.py): a user with a
few tasks behind another's backlog starts within the first rounds, a `batch` backlog still advances
while others submit (it never starves), and a `high` task starts at the next free slot. Positions follow
the same order. Slots are freed here one round at a time, as a worker would; the stack test at the end
runs the same with a real worker and upstream."""

import re

import pytest
from rest_framework.test import APIClient

from imagetasks import selectors, services
from imagetasks.models import ImageTask, Status
from tests.conftest import upstream_env
from tests.create import create_task
from tests.stack import wait_for
from users.models import User

pytestmark = pytest.mark.django_db


def _submit(user_id: str, count: int) -> list[str]:
    ids = [create_task(user_id=user_id, prompt=f"{user_id} {n}").id for n in range(count)]
    for task_id in ids:  # the worker's first turn at each: it runs, or parks behind the cap
        services.task_process(task_id=task_id)
    return ids


def _rounds(count: int, sent, capture) -> list[str]:
    """Free every running slot `count` times (a generation ends), letting each wake-up take its slot:
    the ids in the order they started."""
    started = []
    for _ in range(count):
        for task_id in ImageTask.objects.filter(status=Status.PROCESSING).values_list("id", flat=True):
            sent.clear()
            with capture(execute=True):
                services.task_cancel(task_id=task_id)
            for kind, args, _ in list(sent):
                if kind == "process" and services.task_process(task_id=args[0]) is not None:
                    started.append(args[0])
    return started


def _owner(task_id: str) -> str:
    return ImageTask.objects.filter(pk=task_id).values_list("user_id", flat=True).first()


def test_three_tasks_behind_a_backlog_of_200_start_within_the_first_rounds(
    cap_of_two, sent, django_capture_on_commit_callbacks
):
    big = _submit("reseller", 200)
    small = _submit("someone", 3)
    assert ImageTask.objects.filter(pk__in=big[2:] + small, waiting_since__isnull=False).count() == 201
    positions = {task_id: selectors.queue_place(ImageTask.objects.get(pk=task_id)) for task_id in small}
    assert sorted(place["queue_position"] for place in positions.values()) == [0, 2, 4]  # not 198, 199, 200

    started = _rounds(4, sent, django_capture_on_commit_callbacks)
    owners = [_owner(task_id) for task_id in started]
    assert owners[:6] == ["someone", "reseller", "someone", "reseller", "someone", "reseller"]
    assert set(small) <= set(started[:5])  # in first-come order all three would start after 198 others
    assert [started.index(task_id) for task_id in sorted(small, key=lambda t: positions[t]["queue_position"])] == [
        0,
        2,
        4,
    ]  # as their positions said


def test_behind_a_cap_of_eight_a_few_tasks_take_the_next_four_slots(
    cap_of_two, sent, django_capture_on_commit_callbacks
):
    """A user with 5 tasks behind another's 8 running and a backlog catches up to half of the two users'
    slots: their first four take the next four slots, the fifth then alternates. (Once their own first
    task headed the line, the rest used to alternate from the second on: B, A, B, A, …)"""
    cap_of_two.UPSTREAM_CONCURRENCY = {"local": 8}
    _submit("reseller", 100)
    small = _submit("someone", 5)
    places = [selectors.queue_place(ImageTask.objects.get(pk=task_id))["queue_position"] for task_id in small]
    assert places == [0, 1, 2, 3, 5]
    started = []
    while len(started) < 6:  # one generation ends at a time, as they would behind a busy cap
        running = ImageTask.objects.filter(status=Status.PROCESSING).order_by("started_at").values_list("id", flat=True)
        sent.clear()
        with django_capture_on_commit_callbacks(execute=True):
            services.task_cancel(task_id=running[0])
        started += [
            args[0] for kind, args, _ in list(sent) if kind == "process" and services.task_process(task_id=args[0])
        ]
    assert [_owner(task_id) for task_id in started] == ["someone"] * 4 + ["reseller", "someone"]


def test_a_batch_backlog_keeps_advancing_and_a_high_task_jumps_it(cap_of_two, sent, django_capture_on_commit_callbacks):
    User.objects.create(id="nightly", tier="batch")
    User.objects.create(id="vip", tier="high")
    batch = _submit("nightly", 30)
    normal = _submit("web", 40)  # a normal user's larger backlog arrives after it
    started = _rounds(10, sent, django_capture_on_commit_callbacks)
    owners = [_owner(task_id) for task_id in started]
    assert owners.count("web") > owners.count("nightly") >= 2  # behind, yet never starved (aging)
    assert set(normal) & set(started) and set(batch) & set(started)

    (vip,) = _submit("vip", 1)
    assert selectors.queue_place(ImageTask.objects.get(pk=vip))["queue_position"] == 0
    next_started = _rounds(1, sent, django_capture_on_commit_callbacks)
    assert next_started[0] == vip  # the next free slot is the high task's


def test_a_task_woken_for_a_slot_stays_ahead_until_it_starts(cap_of_two, sent, django_capture_on_commit_callbacks):
    """A woken task is on its way to its slot (its message not yet taken): those behind it keep their
    place until it starts — were it left out, a place would go down, then up again if it lost the slot."""
    _submit("runner", 2)  # the cap's two slots
    first, second, third = _submit("waiter", 3)  # parked, in this order
    assert [selectors.queue_place(ImageTask.objects.get(pk=t))["queue_position"] for t in (first, second, third)] == [
        0,
        1,
        2,
    ]
    ImageTask.objects.filter(pk=first).update(waiting_since=None)  # woken (services/slots.tasks_wake)
    assert selectors.queue_place(ImageTask.objects.get(pk=third))["queue_position"] == 2
    services.task_process(task_id=first)  # no free slot after all: it parks again, with its tag
    assert selectors.queue_place(ImageTask.objects.get(pk=third))["queue_position"] == 2


def test_a_task_parking_while_another_is_woken_lines_up_behind_it(cap_of_two, sent, django_capture_on_commit_callbacks):
    """A user's task woken for a slot and on its way keeps its place at the head — its own place says 0,
    not a first-come count — and the user's next task to park (its first turn came late) lines up behind
    it: the woken one is still in line. (Left out, the late one took a tag before it, and the woken
    task's place went 0, then 1, before it started.)"""
    _submit("runner", 2)  # the cap's two slots
    (first,) = _submit("waiter", 1)
    late = create_task(user_id="waiter", prompt="late").id  # made before its turn came: not parked yet
    ImageTask.objects.filter(pk=first).update(waiting_since=None)  # woken (services/slots.tasks_wake)
    assert selectors.queue_place(ImageTask.objects.get(pk=first))["queue_position"] == 0
    assert services.task_process(task_id=late) is None  # its first turn: the cap is full, it parks
    assert ImageTask.objects.get(pk=late).queue_ticket > ImageTask.objects.get(pk=first).queue_ticket
    assert selectors.queue_place(ImageTask.objects.get(pk=first))["queue_position"] == 0
    assert selectors.queue_place(ImageTask.objects.get(pk=late))["queue_position"] == 1


def test_weight_two_starts_twice_as_often(cap_of_two, sent, django_capture_on_commit_callbacks):
    User.objects.create(id="heavy", weight=2)
    _submit("light", 30)
    _submit("heavy", 30)
    owners = [_owner(task_id) for task_id in _rounds(12, sent, django_capture_on_commit_callbacks)]
    assert owners.count("heavy") >= 1.6 * owners.count("light")


def _had_first_turn(stack) -> int:
    """Tasks the worker has seen at least once: parked behind the cap, running or done (the rest are
    still in the broker's queue, ahead of anything submitted now)."""
    status = stack.manage("queue_status")
    parked = int(re.search(r"free concurrency slot: (\d+)", status).group(1))
    return parked + sum(
        int(n) for n in re.findall(r"^\s+(?:processing|completed|failed)\s+image\s+(\d+)$", status, re.M)
    )


def test_user_max_running_holds_one_users_share_and_gives_the_rest_to_others(
    cap_of_two, sent, django_capture_on_commit_callbacks
):
    cap_of_two.UPSTREAM_CONCURRENCY = {"local": 3}
    cap_of_two.USER_MAX_RUNNING = 1

    def running(user_id):
        return ImageTask.objects.filter(status=Status.PROCESSING, user_id=user_id).count()

    big = _submit("reseller", 6)
    assert running("reseller") == 1  # two slots free, yet the other five wait
    small = _submit("someone", 3)
    assert running("someone") == 1
    starts = []
    for _ in range(6):
        starts += _rounds(1, sent, django_capture_on_commit_callbacks)
        assert running("reseller") <= 1 and running("someone") <= 1
    assert set(small) <= {*starts, *small[:1]} and len(set(big) & set(starts)) >= 3  # each in turn, one at a time


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({}, "at least one of: tier, weight"),
        ({"tier": "urgent"}, "tier"),
        ({"weight": 0}, "weight"),
        ({"weight": 101}, "weight"),
        ({"weight": "2x"}, "weight"),
        ({"tier": "high", "priority": 9}, "priority"),
    ],
)
def test_a_tier_or_weight_out_of_bounds_is_refused_by_name_and_changes_nothing(body, named):
    User.objects.create(id="alice")
    response = APIClient().put("/api/v1/users/alice/share", body, format="json")
    assert response.status_code == 400 and response.json()["success"] is False
    assert named in response.json()["message"]
    assert User.objects.filter(pk="alice").values_list("tier", "weight").first() == ("normal", 1)


def test_the_tier_and_weight_are_set_and_shown():
    User.objects.create(id="alice")
    response = APIClient().put("/api/v1/users/alice/share", {"tier": "batch", "weight": 3}, format="json")
    assert response.status_code == 200
    assert (response.json()["data"]["tier"], response.json()["data"]["weight"]) == ("batch", 3)
    assert APIClient().put("/api/v1/users/nobody/share", {"tier": "high"}, format="json").status_code == 404


@pytest.mark.stack
@pytest.mark.django_db(transaction=False)
def test_with_a_worker_the_small_users_tasks_start_in_the_first_rounds(make_stack, redis_url, fake_upstream):
    fake_upstream.config.latency = 0.5
    env = upstream_env(fake_upstream) | {"UPSTREAM_CONCURRENCY": "jimeng=2"}
    stack = make_stack(broker_url=redis_url, env=env).start()
    big = [stack.create_task(prompt=f"batch {n}", model="jimeng_t2i_v30", user_id="reseller") for n in range(200)]
    wait_for(lambda: _had_first_turn(stack) >= 200, timeout=180, what="the backlog parked behind the cap")
    small = [stack.create_task(prompt=f"mine {n}", model="jimeng_t2i_v30", user_id="someone") for n in range(3)]
    for task_id in small:
        assert stack.wait_terminal(task_id, timeout=60)["status"] == "completed"
    details = [
        stack.session.get(stack.url(f"/api/v1/tasks/{task_id}"), timeout=10).json()["data"] for task_id in big + small
    ]
    small_started = max(d["started_at"] for d in details[200:])
    small_created = min(d["created_at"] for d in details[200:])
    meanwhile = sum(1 for d in details[:200] if d["started_at"] and small_created < d["started_at"] < small_started)
    assert meanwhile <= 4  # first come, first served: 150 or more (every one parked before them)
    for task_id in big:
        stack.session.post(stack.url(f"/api/v1/ai/image/task/{task_id}/cancel"), timeout=10)
