"""The video kind: text (or a first frame, or first and last frames) to one MP4. Its requests carry a
duration, an aspect ratio, a resolution and whether to keep the last frame; a generation delivers one
video, charged as one unit."""

from __future__ import annotations

from rest_framework import serializers

from jimeng_server.errors import InvalidInput
from providers.specs import VideoSpec
from providers.videos import video_size

from .base import Generation, TaskKind, image_urls

_OPTIONS = ("duration", "aspect_ratio", "resolution", "return_last_frame")


class VideoFields(serializers.Serializer):
    seed = serializers.IntegerField(required=False, allow_null=True, min_value=-1, max_value=2**32 - 1)
    image_urls = image_urls(4)
    duration = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=60)
    aspect_ratio = serializers.CharField(required=False, allow_blank=True, max_length=16)
    resolution = serializers.CharField(required=False, allow_blank=True, max_length=8)
    return_last_frame = serializers.BooleanField(required=False, default=False)


def _listed(values) -> str:
    values = sorted(values) if all(isinstance(v, int) for v in values) else list(values)
    if all(isinstance(v, int) for v in values) and len(values) > 2 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]} to {values[-1]}"
    return ", ".join(str(v) for v in values)


def _ratio(spec: VideoSpec, ratio: str | None, images: int) -> str | None:
    follows_image = images and "adaptive" not in spec.ratios
    if ratio and (follows_image or not spec.ratios):
        raise InvalidInput(f"{spec.id} makes the video in the reference image's aspect ratio; leave aspect_ratio out.")
    if not ratio and spec.ratios and not follows_image:
        ratio = "adaptive" if images else next(r for r in spec.ratios if ":" in r)
    if ratio and ratio not in spec.ratios:
        raise InvalidInput(f"aspect_ratio for {spec.id} must be one of {_listed(spec.ratios)}, got '{ratio}'.")
    return ratio or None


def _resolution(spec: VideoSpec, resolution: str | None) -> str:
    from .catalog import catalog

    resolution = (resolution or spec.resolutions[0]).lower()
    if resolution not in spec.resolutions:
        others = [
            other.id
            for other in catalog()
            if isinstance(other, VideoSpec) and other.provider == spec.provider and resolution in other.resolutions
        ]
        hint = f" ({resolution}: {', '.join(others)})" if others else ""
        raise InvalidInput(
            f"resolution for {spec.id} must be one of {_listed(spec.resolutions)}, got '{resolution}'{hint}."
        )
    return resolution


def video_check(
    spec: VideoSpec, *, duration: int | None, ratio: str | None, resolution: str | None, images: int
) -> dict:
    """A video's duration (seconds), aspect ratio and resolution checked against the model, with its
    defaults filled in. A model without ratios follows its reference image."""
    duration = spec.durations[0] if duration is None else duration
    if duration not in spec.durations:
        raise InvalidInput(f"duration for {spec.id} must be one of {_listed(spec.durations)} seconds, got {duration}.")
    return {
        "duration": duration,
        "aspect_ratio": _ratio(spec, ratio, images),
        "resolution": _resolution(spec, resolution),
    }


def frame_size(params: dict) -> tuple[int, int]:
    """The frames a task's video will have (before it is made: from its resolution and ratio)."""
    return video_size(params.get("resolution", "720p"), params.get("aspect_ratio"))


class VideoKind(TaskKind):
    name = "video"
    label = "Video"
    type_names = ("video", "video_generation", "text_to_video", "image_to_video")
    spec_type = VideoSpec
    fields = VideoFields
    option_names = _OPTIONS
    output = "videos"
    default_model_setting = "DEFAULT_VIDEO_MODEL"

    def params(self, spec: VideoSpec, request) -> dict:
        options = request.options
        checked = video_check(
            spec,
            duration=options.get("duration"),
            ratio=options.get("aspect_ratio") or None,
            resolution=options.get("resolution") or None,
            images=len(request.reference_images),
        )
        if options.get("return_last_frame") and not spec.last_frame:
            raise InvalidInput(f"{spec.id} does not return its last frame; leave return_last_frame out.")
        params = {key: value for key, value in checked.items() if value is not None}
        if options.get("return_last_frame"):
            params["return_last_frame"] = True
        return params

    def generation(self, params: dict) -> Generation:
        width, height = frame_size(params)
        return Generation(
            width=width,
            height=height,
            options={key: params[key] for key in _OPTIONS if key in params},
            output="videos",
        )

    def result_answer(self, result: dict, file_url) -> dict:
        videos = [_video(item, file_url) for item in result.get("videos", [])]
        answer = {"video_url": videos[0]["url"] if videos else None, "videos": videos}
        if videos and videos[0].get("last_frame_url"):
            answer["last_frame_url"] = videos[0]["last_frame_url"]
        return answer

    def model_entry(self, spec: VideoSpec) -> dict:
        entry = {
            "durations": sorted(spec.durations),
            "default_duration": spec.durations[0],
            "aspect_ratios": list(spec.ratios),  # none: the video follows the reference image
            "resolutions": list(spec.resolutions),
            "returns_last_frame": spec.last_frame,
        }
        if spec.by_image_count:
            entry["picks_by_image_count"] = list(spec.by_image_count)
        return entry


def _video(item: dict, file_url) -> dict:
    video = {
        "url": file_url(item["name"]),
        "duration": item.get("duration"),
        "width": item.get("width"),
        "height": item.get("height"),
        "content_type": item.get("content_type", "video/mp4"),
    }
    if item.get("last_frame"):
        video["last_frame_url"] = file_url(item["last_frame"]["name"])
    still = item.get("last_frame") or item.get("thumbnail")
    if still:
        video["thumbnail_url"] = file_url(still["name"])
    if item.get("source_url"):
        video["source_url"] = item["source_url"]
    return video


KIND = VideoKind
