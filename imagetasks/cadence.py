"""When to look at an upstream generation next.

A generation of one model takes about as long as the last ones did. The cadence learns, per provider
and model, when a generation ends and how much that varies (moving averages in the cache: Redis when
Redis is the broker, so every worker shares them). It sleeps until one spread before the usual end,
then looks every spread (at least 0.1 s apart — a fiftieth of a generation shorter than 5 s, at least
20 ms — and at most POLL_MIN_SECONDS); well past the usual end, or
before anything is known, it backs off with the elapsed time (elapsed × POLL_FACTOR, within
[POLL_MIN_SECONDS, POLL_MAX_SECONDS]).

What it learns is when the generation ended, not when a look found it: the middle between the look
that found it done and the look a step before. (Learning the found time would drift later with every
run: each look lands a little after the last found time.) A generation already done at the first
look ended some time before it: that counts as two spreads early, so an upstream that became faster
pulls the first look earlier within ~10 generations. Ten-second generations of a steady upstream are
looked at about twice instead of eighteen times, and found done within a tenth of a second."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache

from jimeng_server.memo import Memo

_WEIGHT = 0.2  # of a new observation in the moving averages
_FINEST = 0.1  # seconds: the closest two looks come (for a generation of 5 s or more)
_FINEST_SHARE, _FINEST_FLOOR = 1 / 50, 0.02  # for a shorter one: 1/50 of it, but never under 20 ms
_LATE = 3  # spreads (at least POLL_MIN_SECONDS each) past the usual end, looks back off again
_read = Memo(1.0)  # what this process last read from the cache, per key (a look costs no cache read)


def _key(provider: str, model: str) -> str:
    return f"jimeng:generation-end:{provider}:{model}"


def _learned(provider: str, model: str) -> tuple[float, float] | None:
    """(usual end in seconds after the submit, its mean deviation), or None before anything is known."""
    value = _learned_value(_key(provider, model))  # a cache away means no expectation, not a failed poll
    return tuple(value) if value else None


def _step(spread: float, usual: float) -> float:
    """Looks near the usual end come one spread apart, no closer than a fiftieth of the usual time (a
    look that lands late keeps a short generation's slot the longer), within [20 ms, 0.1 s] and at
    most POLL_MIN_SECONDS."""
    finest = max(_FINEST_FLOOR, min(_FINEST, usual * _FINEST_SHARE))
    return min(settings.POLL_MIN_SECONDS, max(finest, spread))


def usual_seconds(provider: str, model: str) -> float | None:
    learned = _learned(provider, model)
    return learned[0] if learned else None


def generation_observed(provider: str, model: str, found_after: float) -> None:
    """A look `found_after` seconds after the submit found the generation done: fold when it ended
    into the averages (a lost race between two workers only skips one sample)."""
    learned = _learned(provider, model)
    if learned is None:  # found by the backing-off looks: it ended within the last of their steps
        step = min(settings.POLL_MAX_SECONDS, max(settings.POLL_MIN_SECONDS, found_after * settings.POLL_FACTOR))
        value = (max(0.0, found_after - step / 2), step / 2)
    else:
        usual, spread = learned
        step = _step(spread, usual)
        first_look = found_after < usual - spread + step / 2
        early = 2 * max(spread, step) if first_look else step / 2
        ended = max(0.0, found_after - early)
        value = (usual + _WEIGHT * (ended - usual), spread + _WEIGHT * (abs(ended - usual) - spread))
    _read.put(_key(provider, model), value)
    try:
        cache.set(_key(provider, model), value, timeout=7 * 24 * 3600)
    except Exception:  # noqa: BLE001
        pass


def poll_delay(provider: str, model: str, elapsed: float) -> float:
    """Seconds until the next look at a generation submitted `elapsed` seconds ago."""
    low, high = settings.POLL_MIN_SECONDS, settings.POLL_MAX_SECONDS
    learned = _learned(provider, model)
    if learned:
        usual, spread = learned
        first = usual - spread
        if elapsed < first:
            return max(_FINEST_FLOOR, first - elapsed)
        if elapsed < usual + _LATE * max(spread, low):
            return _step(spread, usual)
    return min(high, max(low, elapsed * settings.POLL_FACTOR))


def _run_key(provider: str, model: str) -> str:
    return f"jimeng:run-seconds:{provider}:{model}"


def run_observed(provider: str, model: str, seconds: float) -> None:
    """A task of this model ran `seconds` from its claim to its end: fold it into the average (what a
    queue's ETA counts per task ahead)."""
    key = _run_key(provider, model)
    usual = _learned_value(key)
    value = seconds if usual is None else usual + _WEIGHT * (seconds - usual)
    _read.put(key, value)
    try:
        cache.set(key, value, timeout=7 * 24 * 3600)
    except Exception:  # noqa: BLE001
        pass


def run_seconds(provider: str, model: str) -> float | None:
    return _learned_value(_run_key(provider, model))


def _learned_value(key: str):
    try:
        return _read.get(key, lambda: cache.get(key))
    except Exception:  # noqa: BLE001
        return None
