"""Credits: reserved at create, charged for what a completed task delivered, released for one that
failed or was canceled — each exactly once, and a crash between the ledger and the balance is caught
up by the next operation. With no balance anywhere nothing is reserved or recorded."""

import pytest

from imagetasks import services
from imagetasks.models import ImageTask, Status
from jimeng_server.errors import PaymentRequired
from tests.create import create_task
from tests.drive import drive
from users import credits
from users.models import CreditEntry, User

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh(settings):
    settings.LOCAL_PROVIDER_LATENCY_SECONDS = 0
    settings.MODEL_PRICES = {}
    credits._in_use.forget()


def _user(balance: int | None = 10, user_id: str = "u1") -> str:
    User.objects.create(id=user_id)
    if balance is not None:
        credits.credits_set(user_id=user_id, balance=balance)
    return user_id


def _ledger(user_id: str) -> dict[str, int]:
    totals = {}
    for kind, amount in CreditEntry.objects.filter(user_id=user_id).values_list("kind", "amount"):
        totals[kind] = totals.get(kind, 0) + amount
    return totals


def test_without_a_balance_nothing_is_reserved_or_recorded():
    User.objects.create(id="u1")
    task = create_task(user_id="u1", prompt="a cat")
    drive(task.id)
    assert ImageTask.objects.get(pk=task.id).credits_reserved == 0
    assert CreditEntry.objects.count() == 0
    assert credits.credits_balance(user_id="u1") == {"enabled": False, "balance": None, "reserved": 0}


def test_a_completed_task_is_charged_once_and_a_failed_one_released(settings):
    user = _user(10)
    task = create_task(user_id=user, prompt="a cat")
    assert credits.credits_balance(user_id=user) == {"enabled": True, "balance": 9, "reserved": 1}
    drive(task.id)
    assert ImageTask.objects.get(pk=task.id).status == Status.COMPLETED
    credits.credits_settle(reservation=task.credits_reservation, delivered=1)  # a repeat changes nothing
    assert credits.credits_balance(user_id=user) == {"enabled": True, "balance": 9, "reserved": 0}
    settings.LOCAL_PROVIDER_FAILURE_RATE = 1.0
    failing = create_task(user_id=user, prompt="a dog")
    drive(failing.id)
    assert ImageTask.objects.get(pk=failing.id).status == Status.FAILED
    assert credits.credits_balance(user_id=user) == {"enabled": True, "balance": 9, "reserved": 0}
    assert _ledger(user) == {"grant": 10, "reserve": 2, "charge": 1, "release": 1}


def test_a_multi_image_model_reserves_its_most_and_is_charged_per_image_delivered(settings):
    settings.MODEL_PRICES = {"jimeng_t2i_v40": 3}
    user = _user(100)
    task = create_task(user_id=user, prompt="a cat", model="jimeng_t2i_v40", size="2048x2048")
    assert task.credits_reserved == 3 * 4
    ended = ImageTask.objects.get(pk=task.id)
    services.task_claim(task_id=task.id)
    ended = ImageTask.objects.get(pk=task.id)
    assert services.task_complete(task=ended, result={"images": [{"name": "a.png"}, {"name": "b.png"}]})
    assert credits.credits_balance(user_id=user) == {"enabled": True, "balance": 100 - 6, "reserved": 0}
    assert _ledger(user) == {"grant": 100, "reserve": 12, "charge": 6, "release": 6}


def test_a_short_balance_is_402_and_creates_nothing():
    user = _user(1)
    create_task(user_id=user, prompt="one")
    with pytest.raises(PaymentRequired) as refused:
        create_task(user_id=user, prompt="two")
    assert "balance is 0" in refused.value.message
    assert ImageTask.objects.filter(user_id=user).count() == 1


def test_cancel_releases_and_an_operators_retry_reserves_again():
    user = _user(5)
    task = create_task(user_id=user, prompt="a cat")
    services.task_cancel(task_id=task.id)
    assert credits.credits_balance(user_id=user)["balance"] == 5
    services.task_retry(task_id=task.id)
    assert credits.credits_balance(user_id=user) == {"enabled": True, "balance": 4, "reserved": 1}
    drive(task.id)
    assert credits.credits_balance(user_id=user) == {"enabled": True, "balance": 4, "reserved": 0}
    assert _ledger(user) == {"grant": 5, "reserve": 2, "release": 1, "charge": 1}


def test_an_entry_recorded_but_not_applied_is_applied_by_the_next_operation():
    """A process killed between writing a ledger entry and the balance: the next one catches up."""
    user = _user(10)
    state = User.objects.get(pk=user)
    CreditEntry.objects.create(
        user_id=user,
        seq=state.credits_seq + 1,
        key="t-crashed:r1:reserve",
        kind="reserve",
        amount=3,
        task_id="t-crashed",
    )
    assert User.objects.get(pk=user).credits == 10  # not applied yet
    assert credits.credits_balance(user_id=user) == {"enabled": True, "balance": 7, "reserved": 3}
    credits.credits_settle(reservation="t-crashed:r1", delivered=0)  # not open (no open_since): nothing
    assert credits.credits_balance(user_id=user)["reserved"] == 3


def test_the_reconciler_settles_what_a_crash_left_open(settings):
    settings.TASK_REQUEUE_AFTER_SECONDS = 0
    settings.CREDITS_ORPHAN_SECONDS = 0
    user = _user(10)
    orphan, _ = credits.credits_reserve(user_id=user, task_id="never-written", model="jimeng_t2i_v30", amount=2)
    task = create_task(user_id=user, prompt="a cat")
    drive(task.id)
    # The task completed, but its settlement was lost (a crash after the status changed):
    CreditEntry.objects.filter(task_id=task.id).exclude(kind="reserve").delete()
    User.objects.filter(pk=user).update(credits=7, credits_reserved=3, credits_seq=3)
    CreditEntry.objects.filter(task_id=task.id, kind="reserve").update(
        open_since=CreditEntry.objects.get(task_id=task.id, kind="reserve").at
    )
    assert orphan == 2
    report = services.tasks_reconcile()
    assert report["credits_settled"] == 2
    assert credits.credits_balance(user_id=user) == {"enabled": True, "balance": 9, "reserved": 0}
    assert _ledger(user) == {"grant": 10, "reserve": 3, "charge": 1, "release": 2}


def test_usage_sums_charges_per_model_and_day():
    user = _user(10)
    for prompt in ("a", "b"):
        drive(create_task(user_id=user, prompt=prompt).id)
    usage = credits.credits_usage(user_id=user)
    assert usage["balance"] == 8 and usage["reserved"] == 0 and usage["charged"] == 2
    assert list(usage["charged_by_model"].values()) == [2]
    assert sum(usage["charged_by_day"].values()) == 2


def test_a_video_is_charged_its_price_once_when_its_mp4_is_stored(settings):
    settings.MODEL_PRICES = {"jimeng_t2v_v30": 5}
    user = _user(12)
    task = create_task(user_id=user, prompt="a cat dancing", kind="video", model="jimeng_t2v_v30")
    assert task.credits_reserved == 5
    drive(task.id)
    done = ImageTask.objects.get(pk=task.id)
    assert done.status == Status.COMPLETED and len(done.result["videos"]) == 1
    assert credits.credits_balance(user_id=user) == {"enabled": True, "balance": 7, "reserved": 0}
    with pytest.raises(PaymentRequired):  # 7 left: one more video, not two
        create_task(user_id=user, prompt="two", kind="video", model="jimeng_t2v_v30")
        create_task(user_id=user, prompt="three", kind="video", model="jimeng_t2v_v30")
    assert _ledger(user) == {"grant": 12, "reserve": 10, "charge": 5}


def test_a_reseller_grants_and_deducts_atomically_once_per_key_and_turns_credits_off():
    from rest_framework.test import APIClient

    user = _user(None)
    client = APIClient()
    entries = f"/api/v1/users/{user}/credits/entries"
    missing = client.post(entries, {"amount": 10, "reason": "top-up"}, format="json")
    assert missing.status_code == 400 and "Idempotency-Key" in missing.json()["message"]
    granted = client.post(entries, {"amount": 10, "reason": "top-up"}, format="json", HTTP_IDEMPOTENCY_KEY="t-1")
    assert granted.json()["data"] == {"enabled": True, "balance": 10, "reserved": 0}
    again = client.post(entries, {"amount": 10, "reason": "top-up"}, format="json", HTTP_IDEMPOTENCY_KEY="t-1")
    assert again.json()["data"]["balance"] == 10  # a repeat: at most once per key
    other = client.post(entries, {"amount": 99, "reason": "top-up"}, format="json", HTTP_IDEMPOTENCY_KEY="t-1")
    assert other.status_code == 409
    deducted = client.post(entries, {"amount": -4, "reason": "refund"}, format="json", HTTP_IDEMPOTENCY_KEY="d-1")
    assert deducted.json()["data"]["balance"] == 6
    short = client.post(entries, {"amount": -7, "reason": "too much"}, format="json", HTTP_IDEMPOTENCY_KEY="d-2")
    assert short.status_code == 402 and short.json()["balance"] == 6
    zero = client.post(entries, {"amount": 0, "reason": "nothing"}, format="json", HTTP_IDEMPOTENCY_KEY="z")
    assert zero.status_code == 400

    task = create_task(user_id=user, prompt="a cat")  # holds 1 reserved
    busy = client.delete(f"/api/v1/users/{user}/credits")
    assert busy.status_code == 409 and "reserved by tasks still running" in busy.json()["message"]
    create_task_cancel = services.task_cancel(task_id=task.id)
    assert create_task_cancel.status == Status.CANCELED
    off = client.delete(f"/api/v1/users/{user}/credits")
    assert off.json()["data"] == {"enabled": False, "balance": None, "reserved": 0}
    assert create_task(user_id=user, prompt="free again").credits_reserved == 0
    assert _ledger(user) == {"grant": 0, "reserve": 1, "release": 1}
