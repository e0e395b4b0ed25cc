"""A provider that exists only in the test tree, to show that adding one takes a module and a setting:
`PROVIDER_MODULES=providers.ark,providers.jimeng,tests.fakes.echo_provider`. It "generates" at once a
small PNG whose pixels spell the prompt's length, asynchronously (submit, then poll)."""

from __future__ import annotations

import io

from PIL import Image as PILImage

from providers.base import GenerationRequest, Image, PollResult, Provider
from providers.specs import ImageSpec


class EchoProvider(Provider):
    name = "echo"
    style = "async"
    models = (
        ImageSpec(
            id="echo-v1",
            provider="echo",
            label="Echo (tests only): a flat PNG, ready at the first poll",
            aliases=("echo",),
            default_size=(64, 64),
            min_side=16,
            max_side=256,
            min_area=16 * 16,
            max_area=256 * 256,
        ),
    )

    def is_configured(self) -> bool:
        return True

    def submit(self, request: GenerationRequest) -> str:
        return f"echo-{request.task_id}"

    def poll(self, request: GenerationRequest, upstream_task_id: str) -> PollResult:
        out = io.BytesIO()
        PILImage.new("RGB", (request.width, request.height), (len(request.prompt) % 256, 0, 0)).save(out, "PNG")
        return PollResult(done=True, images=(Image(data=out.getvalue()),))


PROVIDER = EchoProvider
