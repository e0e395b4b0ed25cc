"""OpenAI-compatible model listing, as clients and gateways (new-api, LiteLLM) start: `GET /v1/models`
and `GET /v1/models/{id}` in OpenAI's shape — every model of the catalog, each of its aliases, and the
OpenAI names this server runs on its defaults (dall-e-*, gpt-image-*, sora-*), each naming the model it
runs as `root`, with its kind and its price in credits per unit."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from jimeng_server.api import error_responses
from jimeng_server.errors import NotFound
from users.credits import price

from ..kinds import catalog, model_resolve
from .openai_compat import OPENAI_MODEL_NAMES, _OpenAIView

CREATED = 1735689600  # 2025-01-01: OpenAI's model objects carry a creation time; ours have none
OPENAI_VIDEO_NAMES = ("sora-2", "sora-2-pro")


def _entry(name: str, spec) -> dict:
    return {
        "id": name,
        "object": "model",
        "created": CREATED,
        "owned_by": spec.provider,
        "root": spec.id,
        "type": spec.kind,
        "price": price(spec.id, 1),
    }


def model_objects() -> list[dict]:
    entries = [_entry(name, spec) for spec in catalog() for name in (spec.id, *spec.aliases)]
    defaults = [(name, settings.DEFAULT_MODEL) for name in sorted(OPENAI_MODEL_NAMES)]
    defaults += [(name, settings.DEFAULT_VIDEO_MODEL) for name in OPENAI_VIDEO_NAMES]
    known = {entry["id"] for entry in entries}
    entries += [_entry(name, model_resolve(model)) for name, model in defaults if name not in known]
    return entries


class ModelsView(_OpenAIView):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, **error_responses(401)},
        summary="OpenAI-compatible list of the models (and aliases) this server runs",
        operation_id="v1_models_list",
        tags=["openai"],
    )
    def get(self, request):
        return Response({"object": "list", "data": model_objects()})


class ModelView(_OpenAIView):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, **error_responses(401, 404)},
        summary="OpenAI-compatible model object",
        tags=["openai"],
    )
    def get(self, request, model_id: str):
        for entry in model_objects():
            if entry["id"].lower() == model_id.lower():
                return Response(entry)
        raise NotFound(f"The model '{model_id}' does not exist.")
