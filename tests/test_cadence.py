"""The poll cadence learns when a model's generations end and how much that varies, looks one spread
before the usual end and then every spread; before it knows, and well past the usual end, it backs
off with the elapsed time."""

import pytest
from django.core.cache import cache

from imagetasks import cadence


@pytest.fixture(autouse=True)
def fresh(settings):
    settings.POLL_MIN_SECONDS, settings.POLL_MAX_SECONDS, settings.POLL_FACTOR = 0.5, 5.0, 0.1
    cache.clear()
    cadence._read.forget()


def _looks_until_done(ends_at: float) -> tuple[int, float]:
    """Run the schedule against a generation ending `ends_at` s after its submit, as the worker does:
    (how many looks, how late the look that found it was)."""
    elapsed, looks = 0.0, 0
    while True:
        elapsed += cadence.poll_delay("jimeng", "m", elapsed)
        looks += 1
        if elapsed >= ends_at:
            cadence.generation_observed("jimeng", "m", elapsed)
            return looks, elapsed - ends_at


def test_before_anything_is_known_it_backs_off_with_the_elapsed_time():
    assert [cadence.poll_delay("jimeng", "m", elapsed) for elapsed in (0, 10, 30, 100)] == [0.5, 1.0, 3.0, 5.0]


def test_a_steady_upstream_is_found_done_within_a_tenth_of_a_second_in_two_looks():
    runs = [_looks_until_done(10.0) for _ in range(40)]
    settled = runs[20:]
    assert cadence.usual_seconds("jimeng", "m") == pytest.approx(10.0, abs=0.15)
    assert max(late for _, late in settled) <= 0.11
    assert max(looks for looks, _ in settled) <= 2
    assert 9.7 < cadence.poll_delay("jimeng", "m", 0) <= 10.1  # asleep until just before the usual end
    assert cadence.poll_delay("jimeng", "m", 40) == 4.0  # far past the usual end: backing off again
    assert cadence.poll_delay("jimeng", "other", 0) == 0.5  # per model


def test_what_it_learns_is_the_end_not_the_look_so_it_does_not_drift_later():
    cadence.generation_observed("jimeng", "m", 10.4)  # first found by a backing-off look
    for _ in range(30):
        _looks_until_done(10.0)
    assert cadence.usual_seconds("jimeng", "m") == pytest.approx(10.0, abs=0.15)


def test_a_change_of_pace_is_followed_both_ways():
    for _ in range(10):
        _looks_until_done(10.0)
    for _ in range(30):
        _looks_until_done(4.0)
    assert cadence.usual_seconds("jimeng", "m") == pytest.approx(4.0, abs=0.2)
    for _ in range(30):
        _looks_until_done(15.0)
    assert cadence.usual_seconds("jimeng", "m") == pytest.approx(15.0, abs=0.3)


def test_a_varying_upstream_is_looked_at_no_more_often_than_poll_min_seconds():
    import random

    rng = random.Random(7)
    ends = [rng.uniform(6.0, 14.0) for _ in range(60)]
    runs = [_looks_until_done(end) for end in ends]
    # Those ending after the first look (one spread, about 2 s, before the usual 10 s) are found within
    # POLL_MIN_SECONDS; the early ones at that first look.
    assert max(late for end, (_, late) in zip(ends[20:], runs[20:], strict=True) if end > 9) <= 0.5 + 1e-9
    assert max(late for _, late in runs[20:]) <= 3.5
    assert cadence.poll_delay("jimeng", "m", cadence.usual_seconds("jimeng", "m")) == 0.5


def test_what_another_worker_learned_is_seen_within_a_second(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("jimeng_server.memo.time.monotonic", lambda: clock[0])
    assert cadence.usual_seconds("jimeng", "m") is None
    cache.set(cadence._key("jimeng", "m"), (10.0, 0.1))  # written by another process
    assert cadence.usual_seconds("jimeng", "m") is None  # this process read a moment ago
    clock[0] += 1.01
    assert cadence.usual_seconds("jimeng", "m") == 10.0


def test_an_upstream_that_became_much_faster_is_followed_within_a_few_generations():
    for _ in range(10):
        _looks_until_done(60.0)
    lateness = [_looks_until_done(10.0)[1] for _ in range(40)]
    assert lateness[0] > 40  # the first fast one is found when a slow one would have ended
    assert max(lateness[15:]) <= 0.5  # fifteen generations later, found promptly again
    assert cadence.usual_seconds("jimeng", "m") == pytest.approx(10.0, abs=0.3)


def test_a_steady_one_second_upstream_is_found_within_a_fiftieth_of_it():
    """A look landing a tenth of a second late would hold a 1-s generation's slot 10 % longer (P8's
    throughput): near a short generation's end the looks come a fiftieth of it apart."""
    runs = [_looks_until_done(1.0) for _ in range(80)]
    settled = runs[30:]
    assert cadence.usual_seconds("jimeng", "m") == pytest.approx(1.0, abs=0.03)
    assert max(late for _, late in settled) <= 0.021
    assert max(looks for looks, _ in settled) <= 3
