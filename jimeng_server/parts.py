"""What the apps add to the project's own endpoints, registered by each app when it starts (its
AppConfig.ready), so that the project package imports no app: parts of `/health`, and collectors of
`/metrics` read at scrape time."""

from __future__ import annotations

from collections.abc import Callable

# Each returns what it adds to /health's data, and the names of what is broken ([] when nothing is).
HealthPart = Callable[..., tuple[dict, list[str]]]  # called with database_ok=
_health: list[HealthPart] = []
_collectors: list[object] = []


def health_part_register(part: HealthPart) -> None:
    if part not in _health:
        _health.append(part)


def health_parts() -> list[HealthPart]:
    return list(_health)


def metrics_collector_register(collector: object) -> None:
    """A prometheus collector (an object with `collect()`), read at every scrape of /metrics."""
    if all(type(known) is not type(collector) for known in _collectors):
        _collectors.append(collector)


def metrics_collectors() -> list[object]:
    return list(_collectors)
