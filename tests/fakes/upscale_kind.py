"""A task kind that exists only in the test tree, to show that a new kind takes one module and a
setting: `KIND_MODULES=imagetasks.kinds.image,imagetasks.kinds.video,tests.fakes.upscale_kind`.
One reference image in, one image out, `factor` times 512 pixels a side; its one model is declared
here and runs on the local provider."""

from __future__ import annotations

from rest_framework import serializers

from imagetasks.kinds.base import Generation, TaskKind, image_urls
from providers.specs import ImageSpec

MODEL = ImageSpec(
    id="local-upscale",
    provider="local",
    label="Upscale (tests only): the reference image, larger",
    kind="upscale",
    min_reference_images=1,
    max_reference_images=1,
    max_side=4096,
    max_area=4096 * 4096,
)


class UpscaleFields(serializers.Serializer):
    image_urls = image_urls(1)
    factor = serializers.ChoiceField(choices=[2, 4], required=False, default=2)


class UpscaleKind(TaskKind):
    name = "upscale"
    label = "Upscale"
    type_names = ("upscale", "image_upscale")
    spec_type = ImageSpec
    fields = UpscaleFields
    option_names = ("factor",)
    output = "images"
    models = (MODEL,)

    def default_model(self) -> str:
        return MODEL.id

    def params(self, spec, request) -> dict:
        side = 512 * int(request.options.get("factor", 2))
        return {"factor": int(request.options.get("factor", 2)), "width": side, "height": side}

    def generation(self, params: dict) -> Generation:
        return Generation(width=params["width"], height=params["height"], options={}, output="images")

    def result_answer(self, result: dict, file_url) -> dict:
        images = [{"url": file_url(image["name"]), "width": image["width"]} for image in result.get("images", [])]
        return {"image_url": images[0]["url"] if images else None, "images": images}


KIND = UpscaleKind
