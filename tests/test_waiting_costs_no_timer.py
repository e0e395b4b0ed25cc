"""While nothing changes, a waiting client costs its own coroutine and nothing else of the event loop:
no task, timer or read per waiter (one timer per web process rings the earliest of every waiter's alarms,
and one sweep per process reads what changed among all waited tasks in case a message was lost:
imagetasks/events.py). A change wakes only its task's waiters, and each wait still ends at its deadline
with the task as it is then."""

import asyncio
import time

import pytest
import uvloop
from asgiref.sync import sync_to_async
from django.utils import timezone

from imagetasks import events, selectors
from imagetasks.models import ImageTask, Status
from tests.create import create_task

WAITERS = 200


def _cancel(task_id: str) -> None:
    ImageTask.objects.filter(pk=task_id).update(status=Status.CANCELED, finished_at=timezone.now())
    events.task_changed_on_commit(task_id)  # autocommit: published at once


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])  # uvloop: what the web server runs
@pytest.mark.django_db(transaction=True)  # the reads run in the server's threads, outside a test transaction
def test_two_hundred_waiters_share_one_timer_and_a_change_wakes_only_its_own(settings, redis_url, loop):
    settings.CAPACITY_REDIS_URL = redis_url
    tasks = [create_task(user_id="u1", prompt=f"wait {n}").id for n in range(4)]

    async def scenario():
        started = time.monotonic()
        waits = [
            asyncio.create_task(selectors.task_wait_async(task_id=tasks[n % 4], seconds=0.5 if n == 0 else 60))
            for n in range(WAITERS)
        ]
        hub = events._hub()
        for _ in range(200):  # every waiter registered, and its first read done
            if sum(len(watches) for watches in hub.waiters.values()) == WAITERS:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1)
        others = asyncio.all_tasks() - set(waits) - {asyncio.current_task(), hub.listener, hub.sweeper}
        assert not others  # no task of its own per waiter (asyncio.wait_for made one each)
        if loop == "asyncio":  # the alarms', the subscription's read timeout, the sweep's: not one per waiter
            assert len([h for h in asyncio.get_running_loop()._scheduled if not h.cancelled()]) <= 3
        first = await waits[0]  # its deadline came: answered with the task as it is
        assert first.status == Status.PENDING and time.monotonic() - started >= 0.5
        await sync_to_async(_cancel, thread_sensitive=False)(tasks[1])
        woken = await asyncio.gather(*waits[1::4])
        assert {task.status for task in woken} == {Status.CANCELED}
        await asyncio.sleep(0.2)
        assert not any(wait.done() for n, wait in enumerate(waits) if n % 4 != 1 and n)  # the others still wait
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
        assert not hub.waiters  # a canceled wait (its client gone) leaves nothing behind

    with asyncio.Runner(loop_factory=uvloop.new_event_loop if loop == "uvloop" else None) as runner:
        runner.run(scenario())


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_alarms_ring_in_order_whatever_order_they_were_set_in_even_one_already_due(settings, redis_url, loop):
    settings.CAPACITY_REDIS_URL = redis_url

    async def scenario():
        hub = events._hub()
        now = hub.loop.time()
        rang = []
        for offset in (0.3, -1.0, 0.1, 0.2):  # one due already: uvloop's timer for it is a plain handle
            wait = hub.loop.create_future()
            wait.add_done_callback(lambda _, offset=offset: rang.append(offset))
            hub.alarm(now + offset, wait)
        while len(rang) < 4:
            await asyncio.sleep(0.05)
        assert rang == [-1.0, 0.1, 0.2, 0.3]

    with asyncio.Runner(loop_factory=uvloop.new_event_loop if loop == "uvloop" else None) as runner:
        runner.run(scenario())


def _change_unannounced(task_id: str, status: str | None) -> None:
    """A change whose message was lost (or a task deleted): only the row says so."""
    if status is None:
        ImageTask.objects.filter(pk=task_id).delete()
    else:
        ImageTask.objects.filter(pk=task_id).update(status=status, updated_at=timezone.now())


@pytest.mark.django_db(transaction=True)
def test_a_change_whose_message_was_lost_reaches_its_waiters_by_the_sweep(settings, redis_url, monkeypatch):
    settings.CAPACITY_REDIS_URL = redis_url
    monkeypatch.setattr(events, "_SWEEP_SECONDS", 0.5)  # 30 s in service
    changed, deleted, quiet = (create_task(user_id="u1", prompt=f"wait {n}").id for n in range(3))

    async def scenario():
        waits = [asyncio.create_task(selectors.task_wait_async(task_id=t, seconds=60)) for t in (changed, deleted)]
        still = asyncio.create_task(selectors.task_wait_async(task_id=quiet, seconds=60))
        await asyncio.sleep(1)  # waiting, and swept once at least
        await sync_to_async(_change_unannounced, thread_sensitive=False)(changed, Status.CANCELED)
        await sync_to_async(_change_unannounced, thread_sensitive=False)(deleted, None)
        done, _ = await asyncio.wait(waits, timeout=10)  # a sweep or two; the waits' own deadline is 60 s
        assert len(done) == 2
        assert waits[0].result().status == Status.CANCELED
        assert isinstance(waits[1].exception(), Exception)  # not found: the view answers 404
        assert not still.done()  # nothing changed there: not woken
        still.cancel()

    asyncio.run(scenario())
