"""The registry: which providers run here (the modules in PROVIDER_MODULES, plus the local provider,
which draws any model when its upstream has no credentials), the catalog of models they declare, and
the checks of a request against a model's limits."""

from __future__ import annotations

import re
from functools import cache
from importlib import import_module

from django.conf import settings

from jimeng_server.errors import InvalidInput

from .base import ModelSpec, Provider

LOCAL = "providers.local"


@cache
def _load(modules: tuple[str, ...]) -> tuple[dict[str, type[Provider]], tuple[ModelSpec, ...], dict[str, ModelSpec]]:
    classes: dict[str, type[Provider]] = {}
    for path in (LOCAL, *modules):
        provider = import_module(path).PROVIDER
        classes[provider.name] = provider
    catalog = tuple(spec for provider in classes.values() for spec in provider.models)
    by_name = {name.lower(): spec for spec in catalog for name in (spec.id, *spec.aliases)}
    return classes, catalog, by_name


def _loaded():
    return _load(tuple(dict.fromkeys(settings.PROVIDER_MODULES)))


def provider_names() -> list[str]:
    return list(_loaded()[0])


def catalog() -> tuple[ModelSpec, ...]:
    return _loaded()[1]


def model_names(kind: str | None = None) -> list[str]:
    return [spec.id for spec in catalog() if kind is None or spec.kind == kind]


def model_resolve(name: str | None, kind: str | None = None) -> ModelSpec:
    """The catalog entry for a model id or alias; an unknown name is a client error listing valid ones.
    With `kind`, a model of the other kind is one too (and no name means that kind's default)."""
    if not name:
        name = settings.DEFAULT_VIDEO_MODEL if kind == "video" else settings.DEFAULT_MODEL
    spec = _loaded()[2].get(str(name).strip().lower())
    if spec is None:
        raise InvalidInput(
            f"Unknown model '{name}'. Valid models: {', '.join(model_names(kind))}.",
            valid_models=model_names(kind),
        )
    if kind is not None and spec.kind != kind:
        raise InvalidInput(
            f"{spec.id} makes {spec.kind}s, not {kind}s. Valid {kind} models: {', '.join(model_names(kind))}.",
            valid_models=model_names(kind),
        )
    return spec


def model_for_images(spec: ModelSpec, count: int) -> ModelSpec:
    """A name that picks its model by the number of reference images (e.g. `jimeng_v30`: none →
    text-to-video, one → first frame, two → first and last frame) resolved; any other model as is."""
    if not spec.by_image_count:
        return spec
    if count >= len(spec.by_image_count):
        raise InvalidInput(f"{spec.id} takes at most {len(spec.by_image_count) - 1} reference images, got {count}.")
    return model_resolve(spec.by_image_count[count])


def _listed(values) -> str:
    values = sorted(values) if all(isinstance(v, int) for v in values) else list(values)
    if all(isinstance(v, int) for v in values) and len(values) > 2 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]} to {values[-1]}"
    return ", ".join(str(v) for v in values)


def video_check(
    spec: ModelSpec, *, duration: int | None, ratio: str | None, resolution: str | None, images: int
) -> dict:
    """A video's duration (seconds), aspect ratio and resolution checked against the model, with its
    defaults filled in. A model without ratios follows its reference image."""
    duration = spec.durations[0] if duration is None else duration
    if duration not in spec.durations:
        raise InvalidInput(f"duration for {spec.id} must be one of {_listed(spec.durations)} seconds, got {duration}.")
    follows_image = images and "adaptive" not in spec.ratios
    if ratio and (follows_image or not spec.ratios):
        raise InvalidInput(f"{spec.id} makes the video in the reference image's aspect ratio; leave aspect_ratio out.")
    if not ratio and spec.ratios and not follows_image:
        ratio = "adaptive" if images else next(r for r in spec.ratios if ":" in r)
    if ratio and ratio not in spec.ratios:
        raise InvalidInput(f"aspect_ratio for {spec.id} must be one of {_listed(spec.ratios)}, got '{ratio}'.")
    resolution = (resolution or spec.resolutions[0]).lower()
    if resolution not in spec.resolutions:
        others = [
            other.id
            for other in catalog()
            if other.kind == "video" and other.provider == spec.provider and resolution in other.resolutions
        ]
        hint = f" ({resolution}: {', '.join(others)})" if others else ""
        raise InvalidInput(
            f"resolution for {spec.id} must be one of {_listed(spec.resolutions)}, got '{resolution}'{hint}."
        )
    return {"duration": duration, "aspect_ratio": ratio or None, "resolution": resolution}


_SIZE_RE = re.compile(r"^\s*(\d{1,5})\s*[xX*×]\s*(\d{1,5})\s*$")


def size_parse(spec: ModelSpec, size: str | None) -> tuple[int, int]:
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


def options_check(spec: ModelSpec, *, scale: float | None, flags: dict[str, bool]) -> None:
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


def provider_get(name: str) -> Provider:
    return _instance(_loaded()[0][name])


@cache
def _instance(provider: type[Provider]) -> Provider:
    return provider()


def provider_choose(spec: ModelSpec) -> str:
    """Which provider runs a new task for this model, by PROVIDER_MODE and the credentials present."""
    mode = settings.PROVIDER_MODE
    if mode == "local":
        return "local"
    configured = spec.provider in _loaded()[0] and provider_get(spec.provider).is_configured()
    if configured:
        return spec.provider
    if mode == "live":
        raise InvalidInput(
            f"Model {spec.id} needs the '{spec.provider}' provider, which has no credentials configured."
        )
    return "local"


def provider_mode_summary() -> dict:
    """For /health: which upstream each provider would use now."""
    summary = {}
    for name in sorted({spec.provider for spec in catalog()}):
        configured = settings.PROVIDER_MODE != "local" and provider_get(name).is_configured()
        summary[name] = "live" if configured else "local placeholder"
    return summary
