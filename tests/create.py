"""A task create in tests, as the API would parse it: `create_task(user_id=..., prompt=..., kind=...,
model=..., size=...)` builds the kind's TaskRequest (the kind's own fields as keyword arguments) and
calls the service."""

from imagetasks import services
from imagetasks.kinds import TaskRequest

_COMMON = ("model", "seed", "external_task_id", "webhook_url", "webhook_events", "task_id", "api_key")


def create_task(*, user_id: str, prompt: str, kind: str = "image", image_urls=(), **fields):
    common = {name: fields.pop(name) for name in _COMMON if name in fields}
    request = TaskRequest(
        kind=kind, user_id=user_id, prompt=prompt, reference_images=tuple(image_urls), options=fields, **common
    )
    return services.task_create(request)
