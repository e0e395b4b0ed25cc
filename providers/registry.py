"""The registry: which models exist, their aliases and limits, and which provider runs each.

Adding a provider = one module implementing `providers.base.Provider` + one line in PROVIDERS."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from jimeng_server.errors import InvalidInput

from .base import Provider

# name -> dotted path of the Provider class. One line per provider.
PROVIDERS: dict[str, str] = {
    "local": "providers.local.LocalProvider",
    "jimeng": "providers.jimeng.JimengProvider",
    "ark": "providers.ark.ArkProvider",
}


@dataclass(frozen=True)
class ModelSpec:
    id: str
    provider: str  # the provider that runs it for real (local mode draws every model locally)
    label: str
    aliases: tuple[str, ...] = ()
    default_size: tuple[int, int] = (1024, 1024)
    min_side: int = 512
    max_side: int = 2048
    min_area: int = 512 * 512
    max_area: int = 2048 * 2048
    max_aspect: float = 3.0
    max_reference_images: int = 0
    min_reference_images: int = 0
    max_prompt_chars: int = 800
    recommended_sizes: tuple[str, ...] = field(default=())
    # Optional knobs: the range of `scale` (None: not accepted), and which flags the model takes.
    scale_range: tuple[float, float] | None = None
    options: tuple[str, ...] = ()  # of "force_single", "use_pre_llm"


_SIZES_1K = ("1328x1328", "1472x1104", "1584x1056", "1664x936", "2016x864")
_SIZES_2K = ("2048x2048", "2304x1728", "2496x1664", "2560x1440", "3024x1296")

CATALOG: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="doubao-seedream-3-0-t2i-250415",
        provider="ark",
        label="Seedream 3.0 text-to-image (Ark)",
        aliases=("doubao-seedream-3.0-t2i", "seedream-3.0"),
        recommended_sizes=("1024x1024", "1152x864", "1248x832", "1280x720", "1512x648"),
    ),
    ModelSpec(
        id="doubao-seedream-4-0-250828",
        provider="ark",
        label="Seedream 4.0 (Ark), text and reference images",
        aliases=("doubao-seedream-4.0", "seedream-4.0"),
        default_size=(2048, 2048),
        min_side=720,
        max_side=4096,
        min_area=1280 * 720,
        max_area=4096 * 4096,
        max_aspect=16.0,
        max_reference_images=10,
        recommended_sizes=_SIZES_2K,
    ),
    ModelSpec(
        id="doubao-seededit-3-0-i2i-250628",
        provider="ark",
        label="SeedEdit 3.0 image editing (Ark), one reference image",
        aliases=("doubao-seededit-3.0-i2i", "seededit-3.0"),
        min_reference_images=1,
        max_reference_images=1,
    ),
    ModelSpec(
        id="jimeng_t2i_v30",
        provider="jimeng",
        label="Jimeng 3.0 text-to-image",
        aliases=("jimeng-3.0",),
        options=("use_pre_llm",),
        default_size=(1328, 1328),
        recommended_sizes=_SIZES_1K + _SIZES_2K,
    ),
    ModelSpec(
        id="jimeng_t2i_v31",
        provider="jimeng",
        label="Jimeng 3.1 text-to-image",
        aliases=("jimeng-3.1",),
        options=("use_pre_llm",),
        default_size=(1328, 1328),
        recommended_sizes=_SIZES_1K + _SIZES_2K,
    ),
    ModelSpec(
        id="jimeng_t2i_v40",
        provider="jimeng",
        label="Jimeng 4.0, text and up to 10 reference images",
        aliases=("jimeng-4.0",),
        default_size=(2048, 2048),
        min_side=1024 // 3,
        max_side=4096,
        min_area=1024 * 1024,
        max_area=4096 * 4096,
        max_reference_images=10,
        recommended_sizes=_SIZES_2K,
        scale_range=(0.0, 1.0),
        options=("force_single",),
    ),
    ModelSpec(
        id="jimeng_seedream46_cvtob",
        provider="jimeng",
        label="Jimeng Seedream 4.6, text and up to 14 reference images",
        aliases=("jimeng-4.6", "seedream-4.6"),
        default_size=(2048, 2048),
        min_side=1024 // 3,
        max_side=4096,
        min_area=1024 * 1024,
        max_area=4096 * 4096,
        max_reference_images=14,
        recommended_sizes=_SIZES_2K,
        scale_range=(1, 100),
        options=("force_single",),
    ),
)

_BY_NAME: dict[str, ModelSpec] = {}
for _spec in CATALOG:
    for _name in (_spec.id, *_spec.aliases):
        _BY_NAME[_name.lower()] = _spec

_SIZE_RE = re.compile(r"^\s*(\d{1,5})\s*[xX*×]\s*(\d{1,5})\s*$")


def model_names() -> list[str]:
    return [spec.id for spec in CATALOG]


def model_resolve(name: str | None) -> ModelSpec:
    """The catalog entry for a model id or alias; an unknown name is a client error listing valid ones."""
    if not name:
        name = settings.DEFAULT_MODEL
    spec = _BY_NAME.get(str(name).strip().lower())
    if spec is None:
        raise InvalidInput(
            f"Unknown model '{name}'. Valid models: {', '.join(model_names())}.",
            valid_models=model_names(),
        )
    return spec


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


@cache
def provider_get(name: str) -> Provider:
    return import_string(PROVIDERS[name])()


def provider_choose(spec: ModelSpec) -> str:
    """Which provider runs a new task for this model, by PROVIDER_MODE and the credentials present."""
    mode = settings.PROVIDER_MODE
    if mode == "local":
        return "local"
    configured = spec.provider in PROVIDERS and provider_get(spec.provider).is_configured()
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
    for name in sorted({spec.provider for spec in CATALOG}):
        configured = settings.PROVIDER_MODE != "local" and name in PROVIDERS and provider_get(name).is_configured()
        summary[name] = "live" if configured else "local placeholder"
    return summary
