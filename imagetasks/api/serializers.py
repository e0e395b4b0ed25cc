"""Shapes of the task API: what a create request may carry; and, for the OpenAPI schema, how a task
reads (the reading itself is imagetasks/representation.py)."""

from django.core.validators import URLValidator
from rest_framework import serializers

from jimeng_server.api import FieldsBuiltOnce
from users.models import USER_ID_PATTERN

from ..models import Status

USER_ID_MESSAGE = "must be 1-64 characters: letters, digits and _ . : @ - (starting with a letter or digit)."


class TaskCreateSerializer(FieldsBuiltOnce, serializers.Serializer):
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
