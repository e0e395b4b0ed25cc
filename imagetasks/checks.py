"""Startup checks: the kinds load and each one's default model is in the catalog; and with Redis, a
message not acknowledged within the visibility timeout is delivered again, so every countdown and
every single run must fit in it."""

from django.conf import settings
from django.core.checks import Error, register

from jimeng_server.errors import InvalidInput

from .kinds import kinds, model_resolve


@register()
def check_kinds(app_configs=None, **kwargs):
    try:
        loaded = kinds()
    except (ImportError, AttributeError) as exc:
        return [Error(f"KIND_MODULES: {exc} (each module must define KIND)", id="imagetasks.E002")]
    wanted = [
        (kind.default_model_setting or f"the {name} kind's default model", kind.default_model(), name)
        for name, kind in loaded.items()
    ]
    if "image" in loaded:
        wanted.append(("OPENAI_EDIT_MODEL", settings.OPENAI_EDIT_MODEL, "image"))
    messages = []
    for what, model, kind in wanted:
        try:
            model_resolve(model, kind)
        except InvalidInput as exc:
            messages.append(Error(f"{what}: {exc.message}", id="imagetasks.E003"))
    return messages


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
