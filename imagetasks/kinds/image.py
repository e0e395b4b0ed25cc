"""The image kind: text (and reference images) to images. Its requests carry a size, a quality and the
model-specific knobs (`scale`, `force_single`, `use_pre_llm`); a generation delivers one or more
images, each charged."""

from __future__ import annotations

import re

from rest_framework import serializers

from jimeng_server.errors import InvalidInput
from providers.specs import ImageSpec

from .base import Generation, TaskKind, image_urls

_SIZE_RE = re.compile(r"^\s*(\d{1,5})\s*[xX*×]\s*(\d{1,5})\s*$")
_KNOBS = ("quality", "scale", "force_single", "use_pre_llm", "n")


class ImageFields(serializers.Serializer):
    seed = serializers.IntegerField(required=False, allow_null=True, min_value=-1, max_value=2**31 - 1)
    image_urls = image_urls(14)
    size = serializers.CharField(required=False, allow_blank=True, max_length=32)
    quality = serializers.ChoiceField(choices=["standard", "hd"], required=False, default="standard")
    scale = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=100)
    force_single = serializers.BooleanField(required=False)
    use_pre_llm = serializers.BooleanField(required=False)
    n = serializers.IntegerField(required=False, min_value=1, max_value=15)


def size_parse(spec: ImageSpec, size: str | None) -> tuple[int, int]:
    """`"1024x1024"` → (1024, 1024), checked against the model's limits."""
    if not size:
        return spec.default_size
    match = _SIZE_RE.match(str(size))
    if not match:
        raise InvalidInput(f"size must look like '1024x1024' (width x height in pixels), got '{size}'.")
    width, height = int(match.group(1)), int(match.group(2))
    problem = None
    if min(width, height) < spec.min_side or max(width, height) > spec.max_side:
        problem = f"each side must be between {spec.min_side} and {spec.max_side} pixels"
    elif not spec.min_area <= width * height <= spec.max_area:
        problem = f"width x height must be between {spec.min_area} and {spec.max_area} pixels"
    elif max(width, height) / min(width, height) > spec.max_aspect:
        problem = f"the aspect ratio may not exceed {spec.max_aspect:g}:1"
    if problem:
        raise InvalidInput(f"size {width}x{height} is out of range for {spec.id}: {problem}.")
    return width, height


def knobs_check(spec: ImageSpec, *, scale: float | None, flags: dict[str, bool]) -> None:
    """Model-specific knobs: refuse what the model does not take, and out-of-range values."""
    if scale is not None:
        if spec.scale_range is None:
            raise InvalidInput(f"{spec.id} does not take 'scale'.")
        low, high = spec.scale_range
        if not low <= scale <= high:
            raise InvalidInput(f"scale for {spec.id} must be between {low:g} and {high:g}, got {scale:g}.")
        if isinstance(low, int) and isinstance(high, int) and scale != int(scale):
            raise InvalidInput(f"scale for {spec.id} must be a whole number, got {scale:g}.")
    for name in flags:
        if name not in spec.options:
            raise InvalidInput(f"{spec.id} does not take '{name}'.")


def _count_check(spec: ImageSpec, count: int, flags: dict, references: int) -> None:
    if flags.get("force_single"):
        raise InvalidInput("n: with force_single a task makes one image; leave one of them out.")
    most = max(spec.max_images, spec.set_max)
    if count > most:
        from .catalog import catalog

        able = [
            other.id
            for other in catalog()
            if isinstance(other, ImageSpec) and max(other.max_images, other.set_max) >= count
        ]
        where = f"; n up to {count} on {', '.join(able)}" if able else ""
        raise InvalidInput(f"n: {spec.id} makes at most {most} image(s) per task{where}.")
    if spec.set_max and references + count > spec.set_total_max:
        raise InvalidInput(
            f"n: on {spec.id} reference images and generated images together are at most {spec.set_total_max} "
            f"({references} reference image(s) leave room for {max(0, spec.set_total_max - references)})."
        )


class ImageKind(TaskKind):
    name = "image"
    label = "Image"
    type_names = ("image", "image_generation", "text_to_image")
    spec_type = ImageSpec
    fields = ImageFields
    option_names = ("size", "quality", "scale", "force_single", "use_pre_llm", "n")
    output = "images"
    default_model_setting = "DEFAULT_MODEL"

    def params(self, spec: ImageSpec, request) -> dict:
        options = request.options
        width, height = size_parse(spec, options.get("size") or None)
        scale = options.get("scale")
        flags = {name: options[name] for name in ("force_single", "use_pre_llm") if name in options}
        knobs_check(spec, scale=scale, flags=flags)
        params = {
            "size": f"{width}x{height}",
            "width": width,
            "height": height,
            "quality": options.get("quality") or "standard",
        }
        if scale is not None:
            params["scale"] = int(scale) if isinstance(spec.scale_range[0], int) else scale
        count = options.get("n") or 1
        if count > 1:
            _count_check(spec, count, flags, len(request.reference_images))
            params["n"] = count
        return params | flags

    def generation(self, params: dict) -> Generation:
        return Generation(
            width=params.get("width", 1024),
            height=params.get("height", 1024),
            options={key: params[key] for key in _KNOBS if key in params},
            output="images",
        )

    def reserved_units(self, spec: ImageSpec, params: dict) -> int:
        if params.get("n"):
            return params["n"]
        return 1 if params.get("force_single") else spec.max_images

    def outputs_kept(self, params: dict, outputs: list) -> list:
        """At most the `n` asked for (an upstream that decides its own count may make more)."""
        return outputs[: params["n"]] if params.get("n") else outputs

    def result_answer(self, result: dict, file_url) -> dict:
        images = [
            {
                "url": file_url(image["name"]),
                "width": image.get("width"),
                "height": image.get("height"),
                "content_type": image.get("content_type"),
                **({"index": image["index"]} if "index" in image else {}),
                **({"source_url": image["source_url"]} if image.get("source_url") else {}),
            }
            for image in result.get("images", [])
        ]
        answer = {"image_url": images[0]["url"] if images else None, "images": images}
        if "requested" in result:  # a set: how many were asked for, made, and which were not, and why
            answer |= {
                "requested": result["requested"],
                "count": len(images),
                "partial": bool(result.get("partial")),
                "errors": list(result.get("errors", [])),
            }
        return answer

    def model_entry(self, spec: ImageSpec) -> dict:
        return {
            "default_size": f"{spec.default_size[0]}x{spec.default_size[1]}",
            "size_limits": {
                "min_side": spec.min_side,
                "max_side": spec.max_side,
                "min_pixels": spec.min_area,
                "max_pixels": spec.max_area,
                "max_aspect_ratio": spec.max_aspect,
            },
            "recommended_sizes": list(spec.recommended_sizes),
            "scale_range": list(spec.scale_range) if spec.scale_range else None,
            "options": list(spec.options),
            "max_images": max(spec.max_images, spec.set_max),
            "set": {"max_images": spec.set_max, "max_references_and_images": spec.set_total_max}
            if spec.set_max
            else None,
        }


KIND = ImageKind
