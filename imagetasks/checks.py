"""Startup checks of the queue settings: with Redis, a message not acknowledged within the
visibility timeout is delivered again, so every countdown and every single run must fit in it."""

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_visibility_timeout(app_configs=None, **kwargs):
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        return []
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    waits = {
        "TASK_RETRY_BACKOFF_MAX_SECONDS": settings.TASK_RETRY_BACKOFF_MAX_SECONDS,
        "POLL_MAX_SECONDS": settings.POLL_MAX_SECONDS,
        "CAPACITY_IN_FLIGHT_HOLD_SECONDS": settings.CAPACITY_IN_FLIGHT_HOLD_SECONDS,
        "WEBHOOK_BACKOFF_MAX_SECONDS": settings.WEBHOOK_BACKOFF_MAX_SECONDS,
        # the longest single runs: a synchronous Ark call; storing a video and its last frame
        "ARK_READ_TIMEOUT_SECONDS": settings.ARK_READ_TIMEOUT_SECONDS,
        "VIDEO_DOWNLOAD_TIMEOUT_SECONDS + IMAGE_DOWNLOAD_TIMEOUT_SECONDS": settings.VIDEO_DOWNLOAD_TIMEOUT_SECONDS
        + settings.IMAGE_DOWNLOAD_TIMEOUT_SECONDS,
    }
    return [
        Error(
            f"{name} ({value:g} s) must be shorter than REDIS_VISIBILITY_TIMEOUT ({timeout} s), or Redis "
            "delivers the message again while it is still waiting or running.",
            id="imagetasks.E001",
        )
        for name, value in waits.items()
        if value >= timeout
    ]
