"""The one retry delay: exponential from `base`, capped at `maximum`, with jitter (each delay drawn
from its upper half, so retries of many tasks spread out). Celery's own helper
(`celery.utils.time.get_exponential_backoff_interval`) draws whole seconds with `randrange`, which
refuses the sub-second bases that fast recovery settings use; hence this one."""

import random


def backoff_seconds(attempt: int, *, base: float, maximum: float) -> float:
    """Seconds to wait before try number `attempt + 1` (attempt 1 waits about `base`)."""
    return min(maximum, base * (2 ** max(0, attempt - 1))) * random.uniform(0.5, 1.0)
