"""The models a provider declares, as data: what every model has (`ModelSpec`) and what an image or a
video model has besides (`ImageSpec`, `VideoSpec`). The task kind a model belongs to (imagetasks/kinds)
is the one that reads its spec; a provider only declares it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelSpec:
    id: str
    provider: str  # the provider that runs it for real (local mode draws every model locally)
    label: str
    kind: str  # the task kind it makes (imagetasks/kinds): "image", "video", ...
    aliases: tuple[str, ...] = ()
    max_reference_images: int = 0
    min_reference_images: int = 0
    max_prompt_chars: int = 800
    # A name that picks a model by the number of reference images given (index = count), not a model.
    by_image_count: tuple[str, ...] = ()
    # How long one generation usually takes (seconds): a waiting task's ETA before any was measured.
    typical_seconds: float = 15.0


@dataclass(frozen=True)
class ImageSpec(ModelSpec):
    kind: str = "image"
    default_size: tuple[int, int] = (1024, 1024)
    min_side: int = 512
    max_side: int = 2048
    min_area: int = 512 * 512
    max_area: int = 2048 * 2048
    max_aspect: float = 3.0
    recommended_sizes: tuple[str, ...] = field(default=())
    # Optional knobs: the range of `scale` (None: not accepted), and which flags the model takes.
    scale_range: tuple[float, float] | None = None
    options: tuple[str, ...] = ()  # of "force_single", "use_pre_llm"
    max_images: int = 1  # images one generation may return (credits reserve this many)
    # Group generation ("组图"): a set of up to `set_max` images from one generation (`n`), with references
    # and images together at most `set_total_max`. 0: the model has no group mode.
    set_max: int = 0
    set_total_max: int = 0


@dataclass(frozen=True)
class VideoSpec(ModelSpec):
    kind: str = "video"
    typical_seconds: float = 90.0
    # The durations (seconds), aspect ratios and resolutions it makes, the default first. No ratios: the
    # output follows the reference image.
    durations: tuple[int, ...] = (5,)
    ratios: tuple[str, ...] = ()
    resolutions: tuple[str, ...] = ("720p",)
    last_frame: bool = False  # can also return its last frame as an image
