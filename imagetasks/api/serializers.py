"""Shapes of the task API: what a create request may carry; and, for the OpenAPI schema, how a task
reads (the reading itself is imagetasks/representation.py)."""

from django.core.validators import URLValidator
from rest_framework import serializers

from jimeng_server.api import FieldsBuiltOnce
from users.models import USER_ID_PATTERN

from ..models import Status

USER_ID_MESSAGE = "must be 1-64 characters: letters, digits and _ . : @ - (starting with a letter or digit)."


def _image_urls(most: int) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.URLField(max_length=2048), required=False, max_length=most, allow_empty=True
    )


class _TaskFields(serializers.Serializer):
    """What every create carries, image or video."""

    user_id = serializers.RegexField(
        USER_ID_PATTERN,
        max_length=64,
        error_messages={"invalid": USER_ID_MESSAGE},
    )
    prompt = serializers.CharField(max_length=4000)
    model = serializers.CharField(required=False, allow_blank=True, max_length=100)
    external_task_id = serializers.CharField(required=False, allow_blank=True, max_length=128)
    webhook_url = serializers.URLField(
        required=False, allow_blank=True, max_length=2048, validators=[URLValidator(schemes=["http", "https"])]
    )
    webhook_events = serializers.ChoiceField(choices=["terminal", "all"], required=False, default="terminal")


class TaskCreateSerializer(FieldsBuiltOnce, _TaskFields):
    size = serializers.CharField(required=False, allow_blank=True, max_length=32)
    quality = serializers.ChoiceField(choices=["standard", "hd"], required=False, default="standard")
    seed = serializers.IntegerField(required=False, allow_null=True, min_value=-1, max_value=2**31 - 1)
    image_urls = _image_urls(14)
    scale = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=100)
    force_single = serializers.BooleanField(required=False)
    use_pre_llm = serializers.BooleanField(required=False)


class _VideoFields(serializers.Serializer):
    duration = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=60)
    aspect_ratio = serializers.CharField(required=False, allow_blank=True, max_length=16)
    resolution = serializers.CharField(required=False, allow_blank=True, max_length=8)
    return_last_frame = serializers.BooleanField(required=False, default=False)


class VideoTaskCreateSerializer(FieldsBuiltOnce, _TaskFields, _VideoFields):
    seed = serializers.IntegerField(required=False, allow_null=True, min_value=-1, max_value=2**32 - 1)
    image_urls = _image_urls(4)


IMAGE_TYPES = ("image", "image_generation", "text_to_image")
VIDEO_TYPES = ("video", "video_generation", "text_to_video", "image_to_video")
TASK_TYPES = (*IMAGE_TYPES, *VIDEO_TYPES)


class GenericTaskCreateSerializer(TaskCreateSerializer, _VideoFields):
    type = serializers.ChoiceField(
        choices=TASK_TYPES,
        required=False,
        default="image",
        error_messages={"invalid_choice": "'{input}' is not a task type this server runs; use 'image' or 'video'."},
    )


# --- Response shapes, for the OpenAPI schema ----------------------------------------------------


class ImageOut(serializers.Serializer):
    url = serializers.URLField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    content_type = serializers.CharField()
    source_url = serializers.URLField(required=False)


class VideoOut(serializers.Serializer):
    url = serializers.URLField()
    duration = serializers.FloatField(help_text="seconds")
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    content_type = serializers.CharField(help_text="video/mp4")
    last_frame_url = serializers.URLField(required=False)
    source_url = serializers.URLField(required=False)


class ResultOut(serializers.Serializer):
    image_url = serializers.URLField(required=False, help_text="An image task's first image.")
    images = ImageOut(many=True, required=False)
    video_url = serializers.URLField(required=False, help_text="A video task's video (MP4).")
    videos = VideoOut(many=True, required=False)
    last_frame_url = serializers.URLField(required=False, help_text="When return_last_frame was asked for.")


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
    type = serializers.ChoiceField(choices=["image", "video"])
    status = serializers.ChoiceField(choices=Status.values)
    message = serializers.CharField()
    provider = serializers.CharField()
    result = ResultOut(required=False)
    error = ErrorOut(required=False)
    queue_position = serializers.IntegerField(
        required=False, help_text="While waiting for a free slot: how many tasks start before it (0: next)."
    )
    eta_seconds = serializers.FloatField(
        required=False, allow_null=True, help_text="While waiting for a free slot: seconds until it should start."
    )


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
