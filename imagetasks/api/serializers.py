"""Shapes of the task API: what a create request may carry — the fields every kind shares and each
kind's own (imagetasks/kinds), unknown ones refused by name — and, for the OpenAPI schema, how a task
reads (the reading itself is imagetasks/representation.py)."""

from __future__ import annotations

from functools import cache

from rest_framework import serializers

from jimeng_server.api import StrictFields
from jimeng_server.fastpath import FieldsBuiltOnce

from ..kinds import TaskKind, kind_get, kinds, type_names
from ..kinds.base import USER_ID_MESSAGE, TaskFields
from ..models import Status

__all__ = ["USER_ID_MESSAGE", "create_serializer", "generic_serializer"]


class _TaskCreate(StrictFields, FieldsBuiltOnce, TaskFields):
    """A create of one kind: its fields, and a field of another kind refused saying whose it is."""

    kind_name = ""

    def unknown_field(self, name: str) -> str:
        owners = [kind.name for kind in kinds().values() if name in kind.field_names()]
        if owners:
            article = "an" if self.kind_name[:1] in "aeiou" else "a"
            return f"a field of {' and '.join(owners)} tasks; this is {article} {self.kind_name} task."
        return "not a field of a task create."


@cache
def create_serializer(kind_name: str, *, generic: bool = False) -> type[serializers.Serializer]:
    """The request serializer of one kind's create (with the generic form's `type` when `generic`)."""
    kind: TaskKind = kind_get(kind_name)
    attributes = {"kind_name": kind.name, "__doc__": f"Create a task of kind {kind.name}."}
    if generic:
        attributes["type"] = serializers.CharField(required=False, default=kind.name)
    name = f"{kind.name.title()}{'Generic' if generic else ''}TaskCreate"
    return type(name, (_TaskCreate, kind.fields), attributes)


@cache
def generic_serializer() -> type[serializers.Serializer]:
    """The generic create as the OpenAPI schema shows it: `type`, then every kind's fields."""
    attributes = {
        "type": serializers.ChoiceField(choices=type_names(), required=False, default="image"),
        "__doc__": "Create a task of any kind: `type` picks the kind, which decides the fields it takes.",
    }
    bases = (TaskFields, *(kind.fields for kind in kinds().values()))
    return type("GenericTaskCreate", bases, attributes)


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
    thumbnail_url = serializers.URLField(required=False, help_text="Its last frame as an image.")
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
    type = serializers.CharField(help_text="The task's kind: image, video, …")
    status = serializers.ChoiceField(choices=Status.values)
    message = serializers.CharField()
    provider = serializers.CharField()
    result = ResultOut(required=False)
    error = ErrorOut(required=False)
    queue_position = serializers.IntegerField(
        required=False, help_text="While pending: how many of its provider's tasks start before it (0: next)."
    )
    eta_seconds = serializers.FloatField(
        required=False, allow_null=True, help_text="While pending: seconds until it should start."
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
