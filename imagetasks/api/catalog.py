"""`GET /api/v1/ai/models`: the models this server knows, what each one's kind says of it, and where
a new task of it would run."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema

from jimeng_server.api import envelope, ok
from jimeng_server.apiview import APIView
from users.credits import price

from ..kinds import catalog, kind_get, kinds
from ..services import provider_for


class ModelListView(APIView):
    @extend_schema(
        responses={200: envelope("Models", OpenApiTypes.OBJECT)},
        summary="The models this server knows (every kind), their provider and limits",
    )
    def get(self, request):
        models = [
            {
                "id": spec.id,
                "type": spec.kind,
                "label": spec.label,
                "aliases": list(spec.aliases),
                "provider": spec.provider,
                "runs_on": provider_for(spec),
                "reference_images": {"min": spec.min_reference_images, "max": spec.max_reference_images},
                "max_prompt_chars": spec.max_prompt_chars,
                "price": price(spec.id, 1),  # credits per delivered unit (an image; a video is one)
                **kind_get(spec.kind).model_entry(spec),
            }
            for spec in catalog()
        ]
        defaults = {f"default_{name}_model": kind.default_model() for name, kind in kinds().items()}
        defaults["default_model"] = settings.DEFAULT_MODEL
        return ok({**defaults, "models": models})
