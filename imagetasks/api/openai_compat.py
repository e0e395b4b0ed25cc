"""OpenAI-compatible image generation: `POST /v1/images/generations`, and `POST /v1/images/edits`
(reference images uploaded with the request), so that any OpenAI client
(`OpenAI(base_url="http://server/v1", api_key=<our key>)`) can use this server.

It creates a normal task, waits up to OPENAI_WAIT_SECONDS for it, and answers in OpenAI's shape
(`{"created", "data": [{"url"} or {"b64_json"}]}`). A task still running then is answered 202 with its
`task_id` (and `status`, `poll_url`) so the client can poll the usual endpoints. Errors carry both
our envelope and OpenAI's `error` object, which OpenAI clients read."""

from __future__ import annotations

import base64
import time

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from PIL import Image as PILImage
from rest_framework import serializers, status
from rest_framework.response import Response

from jimeng_server.api import FormParser, MultiPartParser, StrictFields, error_responses
from jimeng_server.apiview import APIView
from jimeng_server.auth import principal
from jimeng_server.errors import InvalidInput
from jimeng_server.fastpath import FieldsBuiltOnce
from jimeng_server.ids import new_id
from users.models import USER_ID_PATTERN

from .. import selectors, services, storage
from ..kinds import TaskRequest
from ..models import Status
from .serializers import USER_ID_MESSAGE
from .waiting import answer_when_done

# OpenAI's own model names run on our default model.
OPENAI_MODEL_NAMES = {"dall-e-2", "dall-e-3", "gpt-image-1", "gpt-image-1-mini"}
DEFAULT_USER = "openai"


def _refused(why: str):
    def validate(value):
        raise serializers.ValidationError(why)

    return validate


class GenerationRequest(StrictFields, FieldsBuiltOnce, serializers.Serializer):
    """OpenAI's image parameters: each honoured, or refused by name saying why (never ignored)."""

    prompt = serializers.CharField()
    model = serializers.CharField(required=False, allow_blank=True)
    n = serializers.IntegerField(required=False, default=1, min_value=1, max_value=15)
    size = serializers.CharField(required=False, allow_blank=True)
    quality = serializers.ChoiceField(
        choices=["auto", "standard", "low", "medium", "hd", "high"], required=False, default="auto"
    )
    response_format = serializers.ChoiceField(choices=["url", "b64_json"], required=False, default="url")
    moderation = serializers.ChoiceField(
        choices=["auto"],
        required=False,
        error_messages={"invalid_choice": "the upstream's own moderation always applies: only 'auto' is taken."},
    )
    background = serializers.ChoiceField(
        choices=["auto", "opaque"],
        required=False,
        error_messages={"invalid_choice": "no model here makes transparent backgrounds: 'auto' or 'opaque'."},
    )
    output_format = serializers.CharField(
        required=False,
        validators=[_refused("images are kept in the format the model makes (PNG or JPEG); leave output_format out.")],
    )
    output_compression = serializers.IntegerField(
        required=False, validators=[_refused("images are kept as the model made them; leave it out.")]
    )
    style = serializers.CharField(
        required=False, validators=[_refused("no model here takes a style (vivid or natural); leave it out.")]
    )
    # The task's user_id: the same rule as everywhere else.
    user = serializers.RegexField(
        USER_ID_PATTERN,
        required=False,
        allow_blank=True,
        max_length=64,
        error_messages={"invalid": USER_ID_MESSAGE},
    )

    def unknown_field(self, name: str) -> str:
        return "not a parameter of OpenAI's image API that this server takes."


class EditRequest(GenerationRequest):
    model = serializers.CharField(required=False, allow_blank=True, default="")
    mask = serializers.FileField(
        required=False, validators=[_refused("masked edits are not taken: the whole image is edited; leave mask out.")]
    )

    def to_internal_value(self, data):
        # The uploaded files arrive as form fields too (`image`, `image[]`, `mask`): they are read apart.
        if hasattr(data, "dict"):
            data = {key: data.get(key) for key in data if key not in ("image", "image[]")}
        return super().to_internal_value(data)


def _quality(value: str) -> str:
    return "hd" if value in ("hd", "high") else "standard"


def _model(name: str, default: str | None = None) -> str | None:
    return default if not name or name.lower() in OPENAI_MODEL_NAMES else name


MAX_UPLOADS = 14  # the most reference images any model takes


def _uploads(request) -> list:
    files = request.FILES.getlist("image") + request.FILES.getlist("image[]")
    if not files:
        raise InvalidInput("image: send one or more image files (multipart/form-data).")
    if len(files) > MAX_UPLOADS:
        raise InvalidInput(f"image: at most {MAX_UPLOADS} files, got {len(files)}.")
    return files


def _checked_extension(upload, number: int) -> str:
    """The file extension of an uploaded reference image, once it is known to be a PNG or JPEG."""
    if upload.size > settings.IMAGE_UPLOAD_MAX_BYTES:
        raise InvalidInput(f"image {number + 1} is {upload.size} bytes; at most {settings.IMAGE_UPLOAD_MAX_BYTES}.")
    try:
        with PILImage.open(upload) as picture:
            kind, pixels = picture.format, picture.width * picture.height
            picture.verify()
    except PILImage.DecompressionBombError:
        pixels = settings.IMAGE_MAX_PIXELS + 1
    except (OSError, SyntaxError, ValueError):
        raise InvalidInput(f"image {number + 1} is not a readable image.") from None
    if pixels > settings.IMAGE_MAX_PIXELS:
        raise InvalidInput(f"image {number + 1} declares more than {settings.IMAGE_MAX_PIXELS} pixels.")
    if kind not in ("PNG", "JPEG"):
        raise InvalidInput(f"image {number + 1} is {kind}; send PNG or JPEG.")
    upload.seek(0)
    return "png" if kind == "PNG" else "jpg"


def _size(size: str) -> str | None:
    return None if not size or size == "auto" else size


def _item(image: dict, response_format: str, request) -> dict:
    if response_format == "b64_json":
        return {"b64_json": base64.b64encode(storage.file_read(image["name"])).decode()}
    return {"url": storage.file_url(image["name"], request)}


class _OpenAIView(APIView):
    def finalize_response(self, request, response, *args, **kwargs):
        body = getattr(response, "data", None)
        if response.status_code >= 400 and isinstance(body, dict) and "message" in body:
            kind = "invalid_request_error" if response.status_code < 500 else "server_error"
            if response.status_code in (401, 403):
                kind = "authentication_error"
            errors = body.get("errors")
            param = next(iter(errors), None) if isinstance(errors, dict) else None
            body["error"] = {"message": body["message"], "type": kind, "param": param, "code": None}
        return super().finalize_response(request, response, *args, **kwargs)

    def _answer(self, request, task, data):
        return answer_when_done(
            self,
            request,
            task=task,
            owner=None,
            seconds=settings.OPENAI_WAIT_SECONDS,
            answer=lambda task: self._images_or_status(request, task, data),
        )

    def _images_or_status(self, request, task, data):
        created = int(time.time())
        if task.status == Status.COMPLETED:
            images = (task.result or {}).get("images", [])
            return Response(
                {"created": created, "data": [_item(image, data["response_format"], request) for image in images]}
            )
        if task.is_terminal:
            message = f"the image task {task.id} ended {task.status}: {task.error_message or task.status}"
            return Response(
                {"success": False, "message": message, "task_id": task.id}, status=status.HTTP_502_BAD_GATEWAY
            )
        return Response(
            {
                "created": created,
                "data": [],
                "task_id": task.id,
                "status": task.status,
                "poll_url": request.build_absolute_uri(f"/api/v1/ai/image/result/{task.id}"),
                **(selectors.queue_place(task) or {}),
            },
            status=status.HTTP_202_ACCEPTED,
        )

    def _user(self, request, data) -> str:
        caller = principal(request)
        user_id = data.get("user") or caller.user_id or DEFAULT_USER
        caller.check_user(user_id)
        return user_id


class ImageGenerationsView(_OpenAIView):
    @extend_schema(
        request=GenerationRequest,
        responses={
            200: OpenApiTypes.OBJECT,
            202: inline_serializer(
                "OpenAIStillRunning",
                {
                    "created": serializers.IntegerField(),
                    "data": serializers.ListField(),
                    "task_id": serializers.CharField(),
                },
            ),
            **error_responses(400, 401, 404, 429, 502),
        },
        summary="OpenAI-compatible image generation (waits for the image, up to OPENAI_WAIT_SECONDS)",
        tags=["openai"],
    )
    def post(self, request):
        query = GenerationRequest(data=request.data)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        task = services.task_create(
            TaskRequest(
                kind="image",
                user_id=self._user(request, data),
                api_key=principal(request).key,
                prompt=data["prompt"],
                model=_model(data.get("model", "")),
                options={
                    "size": _size(data.get("size", "")),
                    "quality": _quality(data["quality"]),
                    **({"n": data["n"]} if data["n"] > 1 else {}),
                },
            )
        )
        return self._answer(request, task, data)


class ImageEditsView(_OpenAIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": OpenApiTypes.OBJECT},
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 401, 404, 413, 429, 502)},
        summary="OpenAI-compatible image edit: reference images uploaded, then as /v1/images/generations",
        tags=["openai"],
    )
    def post(self, request):
        query = EditRequest(data=request.data)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        user_id = self._user(request, data)
        files = _uploads(request)
        extensions = [_checked_extension(upload, number) for number, upload in enumerate(files)]
        # Kept in our storage under the task's id (deleted with it and its user); the upstream fetches
        # them from there (PUBLIC_BASE_URL must be reachable from the internet for a real upstream).
        task_id = new_id()
        names = storage.uploads_save(task_id=task_id, uploads=list(zip(files, extensions, strict=True)))
        try:
            task = services.task_create(
                TaskRequest(
                    kind="image",
                    user_id=user_id,
                    api_key=principal(request).key,
                    prompt=data["prompt"],
                    model=_model(data.get("model", ""), default=settings.OPENAI_EDIT_MODEL),
                    reference_images=tuple(storage.file_url(name, request) for name in names),
                    references_ours=True,
                    task_id=task_id,
                    options={
                        "size": _size(data.get("size", "")),
                        "quality": _quality(data["quality"]),
                        **({"n": data["n"]} if data["n"] > 1 else {}),
                    },
                )
            )
        except Exception:
            storage.files_delete(names)  # nothing half-written
            raise
        return self._answer(request, task, data)
