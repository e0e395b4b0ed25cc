"""When to look at an upstream generation next.

A generation of one model takes about as long as the last ones did. The cadence learns that time per
provider and model (a moving average in the cache: Redis when Redis is the broker, so every worker
shares it) and sleeps until just before it, then looks every POLL_MIN_SECONDS; past twice the usual
time, or before anything is known, it backs off with the elapsed time (elapsed × POLL_FACTOR, within
[POLL_MIN_SECONDS, POLL_MAX_SECONDS]). Ten-second generations are then looked at about four times
instead of eighteen, and found done within half a second."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache

_WEIGHT = 0.2  # of a new observation in the moving average
_EARLY = 0.9  # first look at this share of the usual time


def _key(provider: str, model: str) -> str:
    return f"jimeng:generation-seconds:{provider}:{model}"


def usual_seconds(provider: str, model: str) -> float | None:
    try:
        return cache.get(_key(provider, model))
    except Exception:  # noqa: BLE001 - a cache away means no expectation, not a failed poll
        return None


def generation_observed(provider: str, model: str, seconds: float) -> None:
    """Fold one finished generation's time into the average (a lost race only skips one sample)."""
    try:
        usual = cache.get(_key(provider, model))
        value = seconds if usual is None else usual + _WEIGHT * (seconds - usual)
        cache.set(_key(provider, model), value, timeout=7 * 24 * 3600)
    except Exception:  # noqa: BLE001
        pass


def poll_delay(provider: str, model: str, elapsed: float) -> float:
    """Seconds until the next look at a generation submitted `elapsed` seconds ago."""
    low, high = settings.POLL_MIN_SECONDS, settings.POLL_MAX_SECONDS
    usual = usual_seconds(provider, model)
    if usual:
        if elapsed < _EARLY * usual:
            return min(high, max(low, _EARLY * usual - elapsed))
        if elapsed < 2 * usual:
            return low
    return min(high, max(low, elapsed * settings.POLL_FACTOR))
