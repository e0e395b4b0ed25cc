"""OpenAI-compatible video generation in OpenAI's own shape, so the official client works against this
server (`client.videos.create / retrieve / list / download_content`):

- `POST /v1/videos` (multipart or JSON: `prompt`, `model`, `seconds`, `size`, `input_reference` as an
  uploaded image or `{"image_url": ...}`) creates a normal video task and answers at once, queued;
- `GET /v1/videos/{id}` and `GET /v1/videos` read it (and the caller's others) as video objects;
- `GET /v1/videos/{id}/content` streams the stored MP4 (`variant=thumbnail`: its last frame, when
  one was kept).

OpenAI's model names (sora-*) run on DEFAULT_VIDEO_MODEL. `seconds` and `size` are mapped onto what
the model makes: the nearest duration it offers, the aspect ratio nearest the size's, and the
resolution nearest its short side."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response

from jimeng_server.api import FormParser, JSONParser, JSONRenderer, MultiPartParser, StrictFields, error_responses
from jimeng_server.auth import principal
from jimeng_server.errors import InvalidInput, NotFound
from jimeng_server.fastpath import FieldsBuiltOnce
from jimeng_server.ids import new_id
from jimeng_server.numbers import query_int
from users.models import USER_ID_PATTERN

from .. import cadence, selectors, services, storage
from ..kinds import TaskRequest, kind_get, model_for_images, model_resolve
from ..kinds.video import frame_size
from ..models import ImageTask, Status
from .openai_compat import _checked_extension, _OpenAIView
from .serializers import USER_ID_MESSAGE

_STATUS = {
    Status.PENDING: "queued",
    Status.PROCESSING: "in_progress",
    Status.COMPLETED: "completed",
    Status.FAILED: "failed",
    Status.CANCELED: "failed",
}


class VideoRequest(StrictFields, FieldsBuiltOnce, serializers.Serializer):
    prompt = serializers.CharField(max_length=4000)
    model = serializers.CharField(required=False, allow_blank=True, max_length=100)
    seconds = serializers.IntegerField(required=False, min_value=1, max_value=60)
    size = serializers.RegexField(r"^\d{2,5}x\d{2,5}$", required=False, allow_blank=True)
    user = serializers.RegexField(
        USER_ID_PATTERN, required=False, allow_blank=True, max_length=64, error_messages={"invalid": USER_ID_MESSAGE}
    )

    def to_internal_value(self, data):
        # The reference (an upload, or {"image_url": ...}) is read apart (`_reference`).
        if hasattr(data, "keys"):
            data = {key: data.get(key) for key in data if not str(key).startswith("input_reference")}
        return super().to_internal_value(data)

    def unknown_field(self, name: str) -> str:
        return "not a parameter of OpenAI's video API that this server takes."


def _spec(name: str, images: int):
    if not name or name.lower().startswith("sora"):
        name = settings.DEFAULT_VIDEO_MODEL
    return model_for_images(model_resolve(name, "video"), images)


def _nearest(wanted: float, offered, key=float):
    return min(offered, key=lambda value: (abs(key(value) - wanted), -key(value)))


def _ratio_value(ratio: str) -> float:
    across, down = ratio.split(":")
    return int(across) / int(down)


def _mapped(spec, seconds: int | None, size: str) -> dict:
    """OpenAI's `seconds` and `size` as the model's duration, aspect ratio and resolution."""
    chosen = {"duration": None if seconds is None else _nearest(seconds, spec.durations)}
    if size:
        width, height = (int(side) for side in size.split("x"))
        if width == 0 or height == 0:
            raise InvalidInput(f"size '{size}' has a side of 0.")
        ratios = [ratio for ratio in spec.ratios if ":" in ratio]
        if ratios:
            chosen["aspect_ratio"] = _nearest(width / height, ratios, _ratio_value)
        chosen["resolution"] = _nearest(min(width, height), spec.resolutions, lambda r: int(r.rstrip("p")))
    return chosen


def _reference(request, task_id: str) -> tuple[list[str], list[str]]:
    """The reference image: uploaded (kept under the task's id, like an edit's) or given by URL.
    Returns (URLs for the task, names stored here)."""
    upload = request.FILES.get("input_reference")
    if upload is not None:
        extension = _checked_extension(upload, 0)
        name = storage.upload_save(task_id=task_id, index=0, upload=upload, extension=extension)
        return [storage.file_url(name, request)], [name]
    given = request.data.get("input_reference[image_url]") or request.data.get("input_reference")
    if isinstance(given, dict):
        given = given.get("image_url")
    if given:
        if not isinstance(given, str) or not given.startswith(("http://", "https://")):
            raise InvalidInput('input_reference: upload an image file or give {"image_url": "https://..."}.')
        return [given], []
    return [], []


def video_object(task: ImageTask, request=None) -> dict:
    """A task as OpenAI's video object."""
    params = task.params or {}
    videos = (task.result or {}).get("videos", []) if task.status == Status.COMPLETED else []
    if videos:
        size = f"{videos[0]['width']}x{videos[0]['height']}"
    else:
        width, height = frame_size(params)
        size = f"{width}x{height}"
    progress = {Status.PENDING: 0, Status.COMPLETED: 100}.get(task.status)
    if progress is None:
        usual = cadence.usual_seconds(task.provider, task.model)
        elapsed = (timezone.now() - (task.submitted_at or task.started_at or timezone.now())).total_seconds()
        progress = 100 if task.is_terminal else min(99, int(100 * elapsed / usual)) if usual else 50
    expires_at = None
    if task.finished_at and settings.IMAGE_RETENTION_DAYS:
        expires_at = int(task.finished_at.timestamp() + settings.IMAGE_RETENTION_DAYS * 86400)
    error = None
    if task.status in (Status.FAILED, Status.CANCELED):
        error = {"code": task.error_code or task.status, "message": task.error_message or task.status}
    return {
        "id": task.id,
        "object": "video",
        "model": task.model,
        "status": _STATUS[task.status],
        "progress": progress,
        "prompt": task.prompt,
        "created_at": int(task.created_at.timestamp()),
        "completed_at": int(task.finished_at.timestamp())
        if task.finished_at and task.status == Status.COMPLETED
        else None,
        "expires_at": expires_at,
        "seconds": str(params.get("duration", "")),
        "size": size,
        "remixed_from_video_id": None,
        "error": error,
    }


def _owned_video(request, video_id: str) -> ImageTask:
    task = selectors.task_get(task_id=video_id, owner=principal(request).owner_filter())
    if kind_get(task.kind).output != "videos":
        raise NotFound(f"Video '{video_id}' not found.")
    return task


class VideosView(_OpenAIView):
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        request={"multipart/form-data": OpenApiTypes.OBJECT, "application/json": OpenApiTypes.OBJECT},
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 401, 402, 413, 429)},
        summary="OpenAI-compatible video creation: a video task, answered at once as a queued video object",
        tags=["openai"],
    )
    def post(self, request):
        query = VideoRequest(data=request.data)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        user_id = self._user(request, data)
        task_id = new_id()
        references, stored = _reference(request, task_id)
        try:
            spec = _spec(data.get("model", ""), len(references))
            task = services.task_create(
                TaskRequest(
                    kind="video",
                    user_id=user_id,
                    api_key=principal(request).key,
                    prompt=data["prompt"],
                    model=spec.id,
                    reference_images=tuple(references),
                    references_ours=bool(stored),
                    task_id=task_id,
                    options=_mapped(spec, data.get("seconds"), data.get("size", "")),
                )
            )
        except Exception:
            storage.files_delete(stored)  # nothing half-written
            raise
        return Response(video_object(task, request))

    @extend_schema(
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("after", str)],
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 401)},
        summary="OpenAI-compatible list of the caller's videos, newest first",
        operation_id="v1_videos_list",
        tags=["openai"],
    )
    def get(self, request):
        try:
            limit = query_int(request.query_params.get("limit"), default=20, low=1, high=100, name="limit")
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        user_id = principal(request).user_id or request.query_params.get("user") or "openai"
        tasks = selectors.task_list_for_user(user_id=user_id, kind="video")
        after = request.query_params.get("after")
        if after:
            tasks = tasks.filter(id__lt=after)
        window = list(tasks[: limit + 1])
        items = [video_object(task, request) for task in window[:limit]]
        return Response(
            {
                "object": "list",
                "data": items,
                "has_more": len(window) > limit,
                "first_id": items[0]["id"] if items else None,
                "last_id": items[-1]["id"] if items else None,
            }
        )


class VideoView(_OpenAIView):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, **error_responses(401, 404)},
        summary="OpenAI-compatible video object: status, progress, size and seconds",
        tags=["openai"],
    )
    def get(self, request, video_id: str):
        return Response(video_object(_owned_video(request, video_id), request))

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, **error_responses(401, 404)},
        summary="OpenAI-compatible delete: the video canceled if it still runs, its files and record deleted",
        tags=["openai"],
    )
    def delete(self, request, video_id: str):
        task = _owned_video(request, video_id)
        services.task_delete(task_id=task.id, owner=principal(request).owner_filter())
        return Response({"id": task.id, "object": "video.deleted", "deleted": True})


class _AnyRenderer(BaseRenderer):
    """Accepts any Accept header (OpenAI's client sends application/binary): the answer is a file."""

    media_type = "*/*"
    format = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class VideoContentView(_OpenAIView):
    renderer_classes = [JSONRenderer, _AnyRenderer]

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response):  # an error, in the envelope, as JSON
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(
        parameters=[OpenApiParameter("variant", str, enum=["video", "thumbnail"])],
        responses={(200, "video/mp4"): OpenApiTypes.BINARY, **error_responses(400, 401, 404, 409, 410)},
        summary="OpenAI-compatible download of a completed video's MP4 (or its last frame as thumbnail)",
        tags=["openai"],
    )
    def get(self, request, video_id: str):
        task = _owned_video(request, video_id)
        variant = request.query_params.get("variant", "video")
        if variant not in ("video", "thumbnail"):
            raise InvalidInput("variant must be 'video' or 'thumbnail'.")
        if task.status != Status.COMPLETED:
            return Response(
                {"success": False, "message": f"Video '{task.id}' is {_STATUS[task.status]}, not completed."},
                status=409,
            )
        if task.files_expired_at is not None:
            return Response({"success": False, "message": "The video expired (retention period)."}, status=410)
        video = task.result["videos"][0]
        still = video.get("last_frame") or video.get("thumbnail")
        if variant == "thumbnail" and not still:
            raise NotFound(f"Video '{task.id}' has no thumbnail (it was made before thumbnails were kept).")
        # As /media/ serves it: from the object store by redirect (OpenAI's client follows it), or the bytes.
        return storage.file_response(request, still["name"] if variant == "thumbnail" else video["name"])
