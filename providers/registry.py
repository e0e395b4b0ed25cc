"""The registry: which providers run here (the modules in PROVIDER_MODULES, plus the local provider,
which draws any model when its upstream has no credentials), the models they declare, which one runs a
new task, and each one's concurrency cap."""

from __future__ import annotations

from functools import cache
from importlib import import_module

from django.conf import settings

from jimeng_server.errors import InvalidInput

from .base import ModelSpec, Provider

LOCAL = "providers.local"


@cache
def _load(modules: tuple[str, ...]) -> tuple[dict[str, type[Provider]], tuple[ModelSpec, ...]]:
    classes: dict[str, type[Provider]] = {}
    for path in (LOCAL, *modules):
        provider = import_module(path).PROVIDER
        classes[provider.name] = provider
    return classes, tuple(spec for provider in classes.values() for spec in provider.models)


def _loaded():
    return _load(tuple(dict.fromkeys(settings.PROVIDER_MODULES)))


def provider_names() -> list[str]:
    return list(_loaded()[0])


def declared_models() -> tuple[ModelSpec, ...]:
    """Every model the providers here declare (imagetasks/kinds builds the catalog from them)."""
    return _loaded()[1]


def provider_get(name: str) -> Provider:
    return _instance(_loaded()[0][name])


@cache
def _instance(provider: type[Provider]) -> Provider:
    return provider()


def provider_cap(name: str) -> int:
    """Generations of a provider at once across every worker (0: no cap): UPSTREAM_CONCURRENCY when it
    is set (a provider it leaves out has none), else the provider's own default."""
    if settings.UPSTREAM_CONCURRENCY is not None:
        return int(settings.UPSTREAM_CONCURRENCY.get(name, 0))
    return provider_get(name).default_cap() if name in _loaded()[0] else 0


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
    for name in sorted({spec.provider for spec in declared_models()} & set(provider_names())):
        configured = settings.PROVIDER_MODE != "local" and provider_get(name).is_configured()
        summary[name] = "live" if configured else "local placeholder"
    return summary
