"""What this app tells operators through the project's endpoints (registered at start-up,
jimeng_server/parts.py): its part of `/health` — which upstream each provider uses, where files are
kept, the accounts and any out of rotation — and the gauges `/metrics` reads when scraped: tasks by
status and kind, tasks waiting for a slot, each account's generations, the broker's queue depth."""

from __future__ import annotations

import logging

from django.conf import settings
from prometheus_client.core import GaugeMetricFamily

from providers import registry

from .queues import queue_depth
from .selectors import accounts_standing, task_counts_by_status, tasks_waiting_for_slot

log = logging.getLogger(__name__)


def health_part(*, database_ok: bool) -> tuple[dict, list[str]]:
    providers = registry.provider_mode_summary()
    data = {
        "providers": providers,
        "local_mode": all(mode != "live" for mode in providers.values()),
        # Where files are kept (not probed here: a store that is away fails stores, which retry).
        "storage": (
            {"backend": "s3", "bucket": settings.S3_BUCKET} if settings.S3_BUCKET else {"backend": "filesystem"}
        )
        | {"retention_days": settings.IMAGE_RETENTION_DAYS},
    }
    if database_ok:
        # The upstream accounts: any out of rotation is named with the reason (the server still works
        # on the others; with none left, that provider's tasks fail at once and say why).
        try:
            standing = accounts_standing()
        except Exception:  # noqa: BLE001 - a partial answer beats none
            standing = []
        data["accounts"] = standing
        out = [f"{a['provider']}:{a['name']}" for a in standing if not a["in_rotation"]]
        if out:
            data["accounts_out_of_rotation"] = out
    return data, []


class StateCollector:
    """Gauges read when /metrics is scraped, the same from every web process."""

    def collect(self):
        tasks = GaugeMetricFamily(
            "jimeng_tasks", "Tasks in the database, by status and kind.", labels=["status", "kind"]
        )
        for (status, kind), count in task_counts_by_status().items():
            tasks.add_metric([status, kind], count)
        yield tasks
        yield GaugeMetricFamily(
            "jimeng_tasks_waiting_for_slot",
            "Pending tasks waiting for a free concurrency slot.",
            tasks_waiting_for_slot(),
        )
        in_flight = GaugeMetricFamily(
            "jimeng_account_in_flight", "Generations running on each upstream account.", labels=["provider", "account"]
        )
        rotation = GaugeMetricFamily(
            "jimeng_account_in_rotation",
            "1 when an upstream account takes new work, 0 when out of rotation.",
            labels=["provider", "account"],
        )
        for account in accounts_standing():
            if account["in_flight"] is not None:  # counted per account (a pool, or an account's own cap)
                in_flight.add_metric([account["provider"], account["name"]], account["in_flight"])
            rotation.add_metric([account["provider"], account["name"]], 1 if account["in_rotation"] else 0)
        yield in_flight
        yield rotation
        try:
            depth = queue_depth()
        except Exception:
            log.info("Queue depth unavailable for /metrics", exc_info=True)
        else:
            yield GaugeMetricFamily("jimeng_queue_depth", "Messages waiting in the broker's task queue.", depth)
