"""Credits under races: however creates, cancels, retries, completions, failures and the reconciler
interleave, `balance + reserved + charged = granted` after every round, and once everything has ended
every completed image is charged exactly once and nothing stays reserved.

Each round runs its operations in threads started together (a barrier), against the real database.
The first test is the attack that was found: a canceled task retried several times at once, where
every losing retry released the winner's reservation (8 tasks completed, 2-7 charged)."""

import os
import threading

import pytest
from django.db import connections
from hypothesis import HealthCheck, given, settings, strategies

from imagetasks import services
from imagetasks.models import ImageTask, Status
from jimeng_server.errors import DomainError
from tests.conftest import skip_on_ferretdb
from tests.create import create_task
from users import credits
from users.models import CreditEntry, User

pytestmark = [pytest.mark.django_db(transaction=True), skip_on_ferretdb("atomic conditional updates under races")]
ROUNDS = int(os.environ.get("JIMENG_CREDIT_RACE_ROUNDS", "500"))
_users = iter(range(10**9))


@pytest.fixture(autouse=True)
def _quiet(settings, sent):
    """Credits priced 1 per image; messages to the broker are captured (no worker runs here)."""
    settings.MODEL_PRICES = {}
    settings.TASK_REQUEUE_AFTER_SECONDS = 0  # the reconciler looks at everything, at once
    credits._in_use.forget()


def _together(calls) -> list:
    """Run the calls in threads released at the same moment; their results (or DomainErrors)."""
    barrier, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(index, call):
        barrier.wait()
        try:
            results[index] = call()
        except DomainError as exc:
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _complete(task_id: str, images: int = 1) -> bool:
    claimed = services.task_claim(task_id=task_id)
    if claimed is None:
        return False
    return services.task_complete(
        task=claimed, result={"images": [{"name": f"{task_id}-{n}.png"} for n in range(images)]}
    )


def _fail(task_id: str) -> bool:
    claimed = services.task_claim(task_id=task_id)
    return claimed is not None and services.task_fail(task=claimed, code="boom", message="failed on purpose")


def _ledger(user_id: str) -> dict[str, int]:
    totals = {"grant": 0, "reserve": 0, "charge": 0, "release": 0}
    for kind, amount in CreditEntry.objects.filter(user_id=user_id).values_list("kind", "amount"):
        totals[kind] += amount
    return totals


def _invariant(user_id: str) -> dict:
    state = credits.credits_balance(user_id=user_id)
    ledger = _ledger(user_id)
    assert state["balance"] + state["reserved"] + ledger["charge"] == ledger["grant"], (state, ledger)
    open_reserves = sum(
        CreditEntry.objects.filter(user_id=user_id, kind="reserve", open_since__isnull=False).values_list(
            "amount", flat=True
        )
    )
    assert state["reserved"] == open_reserves, (state, open_reserves)
    return {**state, **ledger}


def _settled(user_id: str) -> None:
    """Everything ended and reconciled: nothing reserved, each completed image charged once."""
    for task in ImageTask.objects.filter(user_id=user_id).exclude(status__in=[Status.COMPLETED, Status.FAILED]):
        services.task_cancel(task_id=task.id)
    services.tasks_reconcile()
    totals = _invariant(user_id)
    assert totals["reserved"] == 0, totals
    completed = ImageTask.objects.filter(user_id=user_id, status=Status.COMPLETED)
    assert totals["charge"] == sum(_delivered(task) for task in completed), totals
    for task in completed:
        charged = CreditEntry.objects.filter(key=f"{task.credits_reservation}:charge").values_list("amount", flat=True)
        assert list(charged) == [_delivered(task)], task.id


def _delivered(task: ImageTask) -> int:
    return len(task.result["images"])


def _user(balance: int) -> str:
    user_id = f"racer-{next(_users)}"
    User.objects.create(id=user_id)
    credits.credits_set(user_id=user_id, balance=balance)
    return user_id


def test_concurrent_retries_of_a_canceled_task_release_only_their_own_reservations():
    user = _user(100)
    tasks = [create_task(user_id=user, prompt=f"retry race {n}").id for n in range(8)]
    for task_id in tasks:
        services.task_cancel(task_id=task_id)
    for task_id in tasks:
        outcomes = _together([lambda t=task_id: services.task_retry(task_id=t) for _ in range(6)])
        assert sum(1 for outcome in outcomes if isinstance(outcome, ImageTask)) == 1, outcomes
        _invariant(user)
        assert _complete(task_id)
    totals = _invariant(user)
    assert (totals["balance"], totals["reserved"], totals["charge"]) == (92, 0, 8), totals
    _settled(user)


MODEL = "jimeng_t2i_v40"  # up to 4 images a generation: 4 reserved, each delivered one charged
OPERATIONS = ("create", "cancel", "retry", "complete", "complete2", "fail", "reconcile")


@settings(
    max_examples=ROUNDS,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    start=strategies.lists(
        strategies.sampled_from(["pending", "canceled", "failed", "completed"]), min_size=2, max_size=3
    ),
    round_=strategies.lists(
        strategies.tuples(strategies.sampled_from(OPERATIONS), strategies.integers(0, 2)), min_size=2, max_size=6
    ),
)
def test_the_credit_invariant_holds_whatever_interleaves(start, round_):
    user = _user(100)
    tasks = []
    for state in start:
        task_id = create_task(user_id=user, prompt=f"a {state} task", model=MODEL).id
        {"canceled": lambda t: services.task_cancel(task_id=t), "failed": _fail, "completed": _complete}.get(
            state, lambda t: None
        )(task_id)
        tasks.append(task_id)
    _invariant(user)

    def call(operation: str, which: int):
        task_id = tasks[which % len(tasks)]
        return {
            "create": lambda: create_task(user_id=user, prompt="made in the race", model=MODEL),
            "cancel": lambda: services.task_cancel(task_id=task_id),
            "retry": lambda: services.task_retry(task_id=task_id),
            "complete": lambda: _complete(task_id),
            "complete2": lambda: _complete(task_id, images=2),
            "fail": lambda: _fail(task_id),
            "reconcile": services.tasks_reconcile,
        }[operation]

    _together([call(operation, which) for operation, which in round_])
    _invariant(user)
    _settled(user)
