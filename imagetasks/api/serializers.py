"""Shapes of the task API: what a create request may carry, and how a task reads in a response."""

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.validators import URLValidator
from rest_framework import serializers

from jimeng_server.api import timestamp
from users.models import USER_ID_PATTERN

from ..models import ImageTask, Status

STATUS_MESSAGES = {
    Status.PENDING: "任务排队中，请稍后查询",
    Status.PROCESSING: "任务处理中，请稍后查询",
    Status.COMPLETED: "任务已完成",
    Status.CANCELED: "任务已取消",
}
CREATED_MESSAGE = "任务已创建，正在处理中"
USER_ID_MESSAGE = "must be 1-64 characters: letters, digits and _ . : @ - (starting with a letter or digit)."


class TaskCreateSerializer(serializers.Serializer):
    user_id = serializers.RegexField(
        USER_ID_PATTERN,
        max_length=64,
        error_messages={"invalid": USER_ID_MESSAGE},
    )
    prompt = serializers.CharField(max_length=4000)
    model = serializers.CharField(required=False, allow_blank=True, max_length=100)
    size = serializers.CharField(required=False, allow_blank=True, max_length=32)
    quality = serializers.ChoiceField(choices=["standard", "hd"], required=False, default="standard")
    seed = serializers.IntegerField(required=False, allow_null=True, min_value=-1, max_value=2**31 - 1)
    external_task_id = serializers.CharField(required=False, allow_blank=True, max_length=128)
    image_urls = serializers.ListField(
        child=serializers.URLField(max_length=2048), required=False, max_length=14, allow_empty=True
    )
    webhook_url = serializers.URLField(
        required=False, allow_blank=True, max_length=2048, validators=[URLValidator(schemes=["http", "https"])]
    )
    webhook_events = serializers.ChoiceField(choices=["terminal", "all"], required=False, default="terminal")
    scale = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=100)
    force_single = serializers.BooleanField(required=False)
    use_pre_llm = serializers.BooleanField(required=False)


class GenericTaskCreateSerializer(TaskCreateSerializer):
    type = serializers.ChoiceField(
        choices=["image", "image_generation", "text_to_image"],
        required=False,
        default="image",
        error_messages={"invalid_choice": "'{input}' is not a task type this server runs; use 'image'."},
    )


def image_url(name: str, request=None) -> str:
    url = default_storage.url(name)
    if url.startswith(("http://", "https://")):
        return url
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL + url
    if request is not None:
        return request.build_absolute_uri(url)
    return f"http://{settings.SERVER_HOST}:{settings.SERVER_PORT}{url}"  # webhooks: no request at hand


def task_result(task: ImageTask, request=None) -> dict | None:
    if task.status != Status.COMPLETED or not task.result:
        return None
    images = [
        {
            "url": image_url(image["name"], request),
            "width": image.get("width"),
            "height": image.get("height"),
            "content_type": image.get("content_type"),
            **({"source_url": image["source_url"]} if image.get("source_url") else {}),
        }
        for image in task.result.get("images", [])
    ]
    return {"image_url": images[0]["url"] if images else None, "images": images}


def task_message(task: ImageTask) -> str:
    if task.status == Status.FAILED:
        return task.error_message or "任务失败"
    return STATUS_MESSAGES[task.status]


def task_summary(task: ImageTask, request=None) -> dict:
    """What the polling endpoint answers: the seed's fields, and the result once there is one."""
    data = {"task_id": task.id, "status": task.status, "message": task_message(task), "provider": task.provider}
    result = task_result(task, request)
    if result is not None:
        data["result"] = result
    if task.status == Status.FAILED:
        data["error"] = {"code": task.error_code, "message": task.error_message}
    return data


def task_detail(task: ImageTask, request=None) -> dict:
    """Everything a client may see about its task."""
    return {
        **task_summary(task, request),
        "user_id": task.user_id,
        "external_task_id": task.external_task_id or None,
        "webhook_url": task.webhook_url or None,
        "model": task.model,
        "prompt": task.prompt,
        "params": task.params,
        "upstream_task_id": task.upstream_task_id or None,
        "attempts": task.attempts,
        "created_at": timestamp(task.created_at),
        "started_at": timestamp(task.started_at),
        "finished_at": timestamp(task.finished_at),
        "updated_at": timestamp(task.updated_at),
    }


# --- Response shapes, for the OpenAPI schema ----------------------------------------------------


class ImageOut(serializers.Serializer):
    url = serializers.URLField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    content_type = serializers.CharField()
    source_url = serializers.URLField(required=False)


class ResultOut(serializers.Serializer):
    image_url = serializers.URLField()
    images = ImageOut(many=True)


class ErrorOut(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class TaskCreatedOut(serializers.Serializer):
    task_id = serializers.CharField()
    status = serializers.ChoiceField(choices=Status.values)
    message = serializers.CharField()
    provider = serializers.CharField()
    model = serializers.CharField()


class TaskSummaryOut(serializers.Serializer):
    task_id = serializers.CharField()
    status = serializers.ChoiceField(choices=Status.values)
    message = serializers.CharField()
    provider = serializers.CharField()
    result = ResultOut(required=False)
    error = ErrorOut(required=False)


class TaskDetailOut(TaskSummaryOut):
    user_id = serializers.CharField()
    external_task_id = serializers.CharField(allow_null=True)
    webhook_url = serializers.URLField(allow_null=True)
    model = serializers.CharField()
    prompt = serializers.CharField()
    params = serializers.DictField()
    upstream_task_id = serializers.CharField(allow_null=True)
    attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()


class TaskPageOut(serializers.Serializer):
    items = TaskDetailOut(many=True)
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    total = serializers.IntegerField()
    has_next = serializers.BooleanField()
