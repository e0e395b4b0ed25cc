"""HTTP endpoints for image tasks: parse and validate, call one service or selector, answer in the envelope."""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.views import APIView

from jimeng_server.api import envelope, error_responses, ok
from jimeng_server.auth import principal
from jimeng_server.errors import InvalidInput

from .. import selectors, services
from ..models import Status
from .serializers import (
    CREATED_MESSAGE,
    GenericTaskCreateSerializer,
    TaskCreatedOut,
    TaskCreateSerializer,
    TaskDetailOut,
    TaskPageOut,
    TaskSummaryOut,
    task_detail,
    task_message,
    task_summary,
)

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


def _create(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    caller = principal(request)
    caller.check_user(data["user_id"])
    fields = {
        "user_id": data["user_id"],
        "prompt": data["prompt"],
        "model": data.get("model") or None,
        "size": data.get("size") or None,
        "quality": data["quality"],
        "seed": data.get("seed"),
        "external_task_id": data.get("external_task_id", ""),
        "reference_images": data.get("image_urls"),
        "scale": data.get("scale"),
        "flags": {name: data[name] for name in ("force_single", "use_pre_llm") if name in data},
        "webhook_url": data.get("webhook_url", ""),
        "webhook_events": data["webhook_events"],
    }
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > 255:
        raise InvalidInput("Idempotency-Key may be at most 255 characters.")
    if key:
        # Scoped to the API key that sent it: two clients' keys cannot collide.
        task, created = services.task_create_idempotent(idempotency_key=key, fields=fields, scope=caller.key_id or "")
    else:
        task, created = services.task_create(**fields), True
    body = {
        "task_id": task.id,
        "status": task.status,
        "message": CREATED_MESSAGE,
        "provider": task.provider,
        "model": task.model,
    }
    if not created:
        body["message"] = task_message(task)
    return ok(body, status_code=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


class ImageTaskCreateView(APIView):
    @extend_schema(
        request=TaskCreateSerializer, responses=CREATED, summary="Create an image task (returns its id at once)"
    )
    def post(self, request):
        return _create(TaskCreateSerializer, request)


class GenericTaskCreateView(APIView):
    @extend_schema(
        request=GenericTaskCreateSerializer,
        responses=CREATED,
        summary="Create an async task (generic form; type 'image')",
    )
    def post(self, request):
        return _create(GenericTaskCreateSerializer, request)


class ImageTaskResultView(APIView):
    @extend_schema(responses=SUMMARY, summary="Poll a task: status, and the image once completed")
    def get(self, request, task_id: str):
        return ok(task_summary(selectors.task_get(task_id=task_id, owner=principal(request).owner_filter()), request))


class TaskDetailView(APIView):
    @extend_schema(responses=DETAIL, summary="Everything about one task")
    def get(self, request, task_id: str):
        return ok(task_detail(selectors.task_get(task_id=task_id, owner=principal(request).owner_filter()), request))


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
    page = serializers.IntegerField(min_value=1, required=False, default=1)
    page_size = serializers.IntegerField(min_value=1, required=False, default=20)


class UserTaskListView(APIView):
    @extend_schema(
        summary="A user's tasks, newest first",
        responses=PAGE,
        parameters=[
            OpenApiParameter("status", str, enum=Status.values),
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
        tasks = selectors.task_list_for_user(user_id=user_id, status=query.validated_data.get("status"))
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
    @extend_schema(responses=DETAIL, summary="Find a user's task by the client's own external_task_id")
    def get(self, request, user_id: str, external_task_id: str):
        principal(request).check_user(user_id)
        task = selectors.task_get_by_external_id(user_id=user_id, external_task_id=external_task_id)
        return ok(task_detail(task, request))
