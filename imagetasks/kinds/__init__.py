"""Task kinds (image, video, …): each owns what differs between kinds (base.TaskKind); the catalog of
models resolves names and says which kind a model makes."""

from .base import Generation, TaskKind, TaskRequest
from .catalog import (
    catalog,
    kind_for_type,
    kind_get,
    kinds,
    model_for_images,
    model_names,
    model_resolve,
    type_names,
)

__all__ = [
    "Generation",
    "TaskKind",
    "TaskRequest",
    "catalog",
    "kind_for_type",
    "kind_get",
    "kinds",
    "model_for_images",
    "model_names",
    "model_resolve",
    "type_names",
]
