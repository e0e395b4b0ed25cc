"""The poll cadence learns how long a model's generations take and looks just before that, then
often; before it knows, and past twice the usual time, it backs off with the elapsed time."""

import pytest
from django.core.cache import cache

from imagetasks import cadence


@pytest.fixture(autouse=True)
def fresh(settings):
    settings.POLL_MIN_SECONDS, settings.POLL_MAX_SECONDS, settings.POLL_FACTOR = 0.5, 5.0, 0.1
    cache.clear()


def test_before_anything_is_known_it_backs_off_with_the_elapsed_time():
    assert [cadence.poll_delay("jimeng", "m", elapsed) for elapsed in (0, 10, 30, 100)] == [0.5, 1.0, 3.0, 5.0]


def test_it_sleeps_until_just_before_the_usual_time_then_looks_often():
    for _ in range(5):
        cadence.generation_observed("jimeng", "m", 10.0)
    assert cadence.usual_seconds("jimeng", "m") == pytest.approx(10.0)
    assert cadence.poll_delay("jimeng", "m", 0) == 5.0  # capped by POLL_MAX_SECONDS
    assert cadence.poll_delay("jimeng", "m", 5) == pytest.approx(4.0)
    assert cadence.poll_delay("jimeng", "m", 9.2) == 0.5
    assert cadence.poll_delay("jimeng", "m", 25) == 2.5  # far past the usual: backing off again
    assert cadence.poll_delay("jimeng", "other", 0) == 0.5  # per model


def test_the_average_follows_a_change_of_pace():
    cadence.generation_observed("jimeng", "m", 10.0)
    for _ in range(20):
        cadence.generation_observed("jimeng", "m", 4.0)
    assert cadence.usual_seconds("jimeng", "m") == pytest.approx(4.0, abs=0.1)
