"""An event stream looks at a pending task's place in line again at a quiet moment (a keep-alive) the
sooner the nearer the task is to the front (or to its start): at every keep-alive at the front, once
in five minutes far back — not a read and a count of the line at every keep-alive for each of thousands of streams (P6 at
10,000 waiters: ~400 a second, the web server's p99 with them). A running task's stream never looks:
its changes come as messages."""

import types

import pytest

from imagetasks.api import events


@pytest.fixture
def clock(monkeypatch):
    now = types.SimpleNamespace(value=1_000.0)
    monkeypatch.setattr(events, "time", types.SimpleNamespace(monotonic=lambda: now.value))
    return now


def test_the_further_back_in_line_the_rarer_a_look(clock):
    log = events.EventLog(request=None, last_event_id="")
    assert log.look_due()  # nothing sent yet

    log.last = (1, 0)
    log.looked(0, 0.0)  # at the front: every quiet moment
    assert log.look_due()

    log.looked(40, None)  # 40 ahead, no ETA: after 20 s
    clock.value += 19.9
    assert not log.look_due()
    clock.value += 0.2
    assert log.look_due()

    log.looked(9_000, 36_000.0)  # far back: after five minutes, not 75 minutes
    clock.value += 299.9
    assert not log.look_due()
    clock.value += 0.2
    assert log.look_due()

    log.looked(9_000, 60.0)  # far back in a line that moves fast: after a quarter of its ETA
    clock.value += 14.9
    assert not log.look_due()
    clock.value += 0.2
    assert log.look_due()


def test_a_running_or_ended_tasks_stream_does_not_look(clock):
    for last_event_id in ("2", "2.3", "3"):
        log = events.EventLog(request=None, last_event_id=last_event_id)
        clock.value += 1_000
        assert not log.look_due()
