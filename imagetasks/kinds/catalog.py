"""The kinds this server runs (the modules in KIND_MODULES) and the catalog of models: every model a
provider declares, plus any a kind declares itself, of a kind that runs here. A name resolves to a
model here, and a model's kind answers for it."""

from __future__ import annotations

from functools import cache
from importlib import import_module

from django.conf import settings

from jimeng_server.errors import InvalidInput
from providers import registry
from providers.specs import ModelSpec

from .base import TaskKind


@cache
def _load(modules: tuple[str, ...], providers: tuple[str, ...]):
    kinds: dict[str, TaskKind] = {}
    for path in modules:
        kind = import_module(path).KIND()
        kinds[kind.name] = kind
    declared = [*registry.declared_models(), *(spec for kind in kinds.values() for spec in kind.models)]
    models = tuple(spec for spec in declared if spec.kind in kinds)
    by_name = {name.lower(): spec for spec in models for name in (spec.id, *spec.aliases)}
    by_type = {name: kind for kind in kinds.values() for name in kind.type_names}
    return kinds, models, by_name, by_type


def _loaded():
    return _load(tuple(dict.fromkeys(settings.KIND_MODULES)), tuple(settings.PROVIDER_MODULES))


def kinds() -> dict[str, TaskKind]:
    return _loaded()[0]


def kind_get(name: str) -> TaskKind:
    """The kind of a task (or a model). A task of a kind no longer listed in KIND_MODULES is an error
    an operator must see: it raises."""
    return _loaded()[0][name]


def kind_for_type(type_name: str) -> TaskKind:
    """The kind a generic create's `type` names (any of a kind's type names)."""
    kind = _loaded()[3].get(type_name)
    if kind is None:
        quoted = [f"'{name}'" for name in kinds()]
        names = " or ".join(quoted) if len(quoted) < 3 else ", ".join(quoted[:-1]) + f" or {quoted[-1]}"
        raise InvalidInput(f"'{type_name}' is not a task type this server runs; use {names}.")
    return kind


def type_names() -> tuple[str, ...]:
    return tuple(_loaded()[3])


def catalog() -> tuple[ModelSpec, ...]:
    return _loaded()[1]


def model_names(kind: str | None = None) -> list[str]:
    return [spec.id for spec in catalog() if kind is None or spec.kind == kind]


def model_resolve(name: str | None, kind: str | None = None) -> ModelSpec:
    """The catalog entry for a model id or alias; an unknown name is a client error listing valid ones.
    With `kind`, a model of another kind is one too (and no name means that kind's default)."""
    if not name:
        name = kind_get(kind).default_model() if kind else settings.DEFAULT_MODEL
    spec = _loaded()[2].get(str(name).strip().lower())
    if spec is None:
        raise InvalidInput(
            f"Unknown model '{name}'. Valid models: {', '.join(model_names(kind))}.", valid_models=model_names(kind)
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
