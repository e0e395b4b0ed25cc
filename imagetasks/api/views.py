"""HTTP endpoints for image tasks: parse and validate, call one service or selector, answer in the envelope."""

import re

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status

from jimeng_server.api import envelope, error_responses, ok
from jimeng_server.apiview import APIView
from jimeng_server.auth import principal
from jimeng_server.errors import InvalidInput
from jimeng_server.numbers import digits_int

from .. import selectors, services
from ..kinds import kind_for_type, kind_get, kinds
from ..models import Status
from ..representation import CREATED_MESSAGE, task_detail, task_message, task_summary
from .serializers import (
    TaskCreatedOut,
    TaskDetailOut,
    TaskPageOut,
    TaskSummaryOut,
    create_serializer,
    generic_serializer,
)
from .waiting import answer_when_done, wait_spread

CREATED = {
    202: envelope("TaskCreated", TaskCreatedOut()),
    200: envelope("TaskAlreadyCreated", TaskCreatedOut()),
    **error_responses(400, 409, 415),
}
SUMMARY = {200: envelope("TaskSummary", TaskSummaryOut()), **error_responses(404)}
DETAIL = {200: envelope("TaskDetail", TaskDetailOut()), **error_responses(404)}
CHANGED = {200: envelope("TaskChanged", TaskDetailOut()), **error_responses(404, 409)}
PAGE = {200: envelope("TaskPage", TaskPageOut()), **error_responses(400)}


IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Repeat a create safely: the same key with the same body returns the original task (200).",
)


def _create(request, kind_name: str | None = None):
    """A create: parsed into the request of its kind (`kind_name`, or for the generic form the kind its
    `type` names), then one service call."""
    generic = kind_name is None
    if generic:
        kind_name = _type_of(request.data)
    serializer = create_serializer(kind_name, generic=generic)(data=request.data)
    serializer.is_valid(raise_exception=True)
    caller = principal(request)
    task_request = kind_get(kind_name).request(serializer.validated_data, api_key=caller.key)
    caller.check_user(task_request.user_id)
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > 255:
        raise InvalidInput("Idempotency-Key may be at most 255 characters.")
    if key:  # scoped to the API key that sent it: two clients' keys cannot collide
        task, created = services.task_create_idempotent(idempotency_key=key, request=task_request, scope=caller.key)
    else:
        task, created = services.task_create(task_request), True
    body = {
        "task_id": task.id,
        "status": task.status,
        "message": CREATED_MESSAGE if created else task_message(task),
        "provider": task.provider,
        "model": task.model,
    }
    return ok(body, status_code=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


def _type_of(data) -> str:
    """The generic form's `type` (the kind), before the rest of the body is read."""
    kind_type = data.get("type", "image") if isinstance(data, dict) else "image"
    if not isinstance(kind_type, str):
        raise InvalidInput("type: must be a string naming a task type (e.g. 'image' or 'video').")
    try:
        return kind_for_type(kind_type).name
    except InvalidInput as exc:
        raise InvalidInput(f"type: {exc.message}") from None


class ImageTaskCreateView(APIView):
    @extend_schema(
        request=create_serializer("image"),
        responses=CREATED,
        parameters=[IDEMPOTENCY_HEADER],
        summary="Create an image task (returns its id at once)",
    )
    def post(self, request):
        return _create(request, "image")


class GenericTaskCreateView(APIView):
    @extend_schema(
        request=generic_serializer(),
        responses=CREATED,
        parameters=[IDEMPOTENCY_HEADER],
        summary="Create an async task (generic form; `type` names the kind: image, video, …)",
    )
    def post(self, request):
        return _create(request)


class VideoTaskCreateView(APIView):
    @extend_schema(
        request=create_serializer("video"),
        responses=CREATED,
        parameters=[IDEMPOTENCY_HEADER],
        summary="Create a video task (returns its id at once; the MP4 is stored when done)",
    )
    def post(self, request):
        return _create(request, "video")


PREFER_WAIT = OpenApiParameter(
    "Prefer",
    str,
    OpenApiParameter.HEADER,
    description="`wait=N` (N ≤ 60): answer as soon as the task is terminal, or within N seconds (after 0.8 N "
    "at the earliest) as it is then.",
)
_WAIT = re.compile(r"(?:^|[,;]\s*)wait\s*=\s*(\d+)", re.IGNORECASE)


def _prefer_wait(request) -> int:
    """Seconds asked for by `Prefer: wait=N` (RFC 7240), at most LONG_POLL_MAX_SECONDS; 0 if absent."""
    match = _WAIT.search(request.headers.get("Prefer", ""))
    return min(digits_int(match.group(1)), settings.LONG_POLL_MAX_SECONDS) if match else 0


def _task_answer(view, request, task_id: str, shape):
    """One task, right away or (with `Prefer: wait=N`) once terminal, in the given shape."""
    owner = principal(request).owner_filter()
    wait = _prefer_wait(request)
    if not wait:
        fields = selectors.SUMMARY_FIELDS if shape is task_summary else None
        return ok(shape(selectors.task_get(task_id=task_id, owner=owner, fields=fields), request))
    task = selectors.task_get(task_id=task_id, owner=owner)

    def answer(task):
        response = ok(shape(task, request))
        response["Preference-Applied"] = f"wait={wait}"
        return response

    return answer_when_done(view, request, task=task, owner=owner, seconds=wait_spread(wait), answer=answer)


class ImageTaskResultView(APIView):
    @extend_schema(
        responses=SUMMARY, parameters=[PREFER_WAIT], summary="Poll a task: status, and the image once completed"
    )
    def get(self, request, task_id: str):
        return _task_answer(self, request, task_id, task_summary)


class VideoTaskResultView(APIView):
    @extend_schema(
        responses=SUMMARY, parameters=[PREFER_WAIT], summary="Poll a video task: status, and the video once completed"
    )
    def get(self, request, task_id: str):
        return _task_answer(self, request, task_id, task_summary)


class TaskDetailView(APIView):
    @extend_schema(responses=DETAIL, parameters=[PREFER_WAIT], summary="Everything about one task")
    def get(self, request, task_id: str):
        return _task_answer(self, request, task_id, task_detail)


class TaskCancelView(APIView):
    @extend_schema(request=None, responses=CHANGED, summary="Cancel a pending or processing task")
    def post(self, request, task_id: str):
        return ok(task_detail(services.task_cancel(task_id=task_id, owner=principal(request).owner_filter()), request))


class TaskRetryView(APIView):
    @extend_schema(
        request=None,
        responses={202: envelope("TaskRetried", TaskDetailOut()), **error_responses(404, 409)},
        summary="Retry a failed or canceled task",
    )
    def post(self, request, task_id: str):
        task = services.task_retry(task_id=task_id, owner=principal(request).owner_filter())
        return ok(task_detail(task, request), status_code=status.HTTP_202_ACCEPTED)


class _ListQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.values, required=False)
    type = serializers.CharField(required=False, max_length=32)
    page = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False, default=1)
    page_size = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False, default=20)


class UserTaskListView(APIView):
    @extend_schema(
        summary="A user's tasks, newest first",
        responses=PAGE,
        parameters=[
            OpenApiParameter("status", str, enum=Status.values),
            OpenApiParameter("type", str, description="Only the tasks of one kind (image, video, …)."),
            OpenApiParameter("page", int),
            OpenApiParameter("page_size", int),
        ],
    )
    def get(self, request, user_id: str):
        principal(request).check_user(user_id)
        query = _ListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        page, page_size = query.validated_data["page"], query.validated_data["page_size"]
        if page_size > settings.TASK_LIST_MAX_PAGE_SIZE:
            raise InvalidInput(f"page_size may be at most {settings.TASK_LIST_MAX_PAGE_SIZE}.")
        kind = query.validated_data.get("type")
        if kind and kind not in kinds():
            raise InvalidInput(f'type: "{kind}" is not a valid choice.')
        tasks = selectors.task_list_for_user(user_id=user_id, status=query.validated_data.get("status"), kind=kind)
        total = tasks.count()
        window = list(tasks[(page - 1) * page_size : page * page_size])
        return ok(
            {
                "items": [task_detail(task, request) for task in window],
                "page": page,
                "page_size": page_size,
                "total": total,
                "has_next": page * page_size < total,
            }
        )


class ExternalTaskView(APIView):
    @extend_schema(
        responses=DETAIL, parameters=[PREFER_WAIT], summary="Find a user's task by the client's own external_task_id"
    )
    def get(self, request, user_id: str, external_task_id: str):
        principal(request).check_user(user_id)
        task = selectors.task_get_by_external_id(user_id=user_id, external_task_id=external_task_id)
        return _task_answer(self, request, task.id, task_detail)
