"""What a task kind is. A kind (image, video, …) owns everything that differs between kinds: the
request fields it accepts and their validation, the spec type of its models, how a task becomes a
provider request, what a generation delivers and how that reads, and what it costs. The rest of the
code asks the kind (`imagetasks.kinds.kind_get(task.kind)`); a kind is one module, listed in the
KIND_MODULES setting, that names its subclass `KIND`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from django.core.validators import URLValidator
from rest_framework import serializers

from providers.specs import ModelSpec
from users.models import USER_ID_PATTERN

USER_ID_MESSAGE = "must be 1-64 characters: letters, digits and _ . : @ - (starting with a letter or digit)."


@dataclass(frozen=True)
class TaskRequest:
    """One create, as every endpoint parses it: what all kinds share, and the kind's own options (as its
    fields validated them)."""

    kind: str
    user_id: str
    prompt: str
    model: str | None = None
    reference_images: tuple[str, ...] = ()
    seed: int | None = None
    external_task_id: str = ""
    webhook_url: str = ""
    webhook_events: str = "terminal"
    options: dict = field(default_factory=dict)
    task_id: str | None = None  # chosen by the caller (uploads are kept under it before the task exists)
    references_ours: bool = False  # references stored here (uploads): our own URLs, not checked again
    api_key: str = ""  # the prefix of the API key that sent it ("" without one): its share when FAIR_SHARE_BY=key


@dataclass(frozen=True)
class Generation:
    """How a task reads to its provider (providers.base.GenerationRequest's kind-shaped part)."""

    width: int
    height: int
    options: dict
    output: Literal["images", "videos"]


class TaskFields(serializers.Serializer):
    """What every create carries, whatever its kind."""

    user_id = serializers.RegexField(USER_ID_PATTERN, max_length=64, error_messages={"invalid": USER_ID_MESSAGE})
    prompt = serializers.CharField(max_length=4000)
    model = serializers.CharField(required=False, allow_blank=True, max_length=100)
    external_task_id = serializers.CharField(required=False, allow_blank=True, max_length=128)
    webhook_url = serializers.URLField(
        required=False, allow_blank=True, max_length=2048, validators=[URLValidator(schemes=["http", "https"])]
    )
    webhook_events = serializers.ChoiceField(choices=["terminal", "all"], required=False, default="terminal")


def image_urls(most: int) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.URLField(max_length=2048),
        required=False,
        max_length=most,
        allow_empty=True,
        error_messages={"max_length": "at most {max_length} reference images are taken by any model (Seedream 4.x)."},
    )


class TaskKind:
    """One kind of task. Subclasses set the class attributes and implement the methods."""

    name: ClassVar[str]
    label: ClassVar[str]
    # What the generic create's `type` may say for this kind (its name first).
    type_names: ClassVar[tuple[str, ...]]
    spec_type: ClassVar[type[ModelSpec]]
    # Its own request fields (seed, image_urls and the kind's options): a serializer class; and which of
    # them are the kind's options (kept in TaskRequest.options).
    fields: ClassVar[type[serializers.Serializer]]
    option_names: ClassVar[tuple[str, ...]] = ()
    # Where a generation's outputs go in the task's result (`images` or `videos`), and what they are.
    output: ClassVar[Literal["images", "videos"]]
    default_model_setting: ClassVar[str] = ""  # the setting naming the model of a create that names none
    models: ClassVar[tuple[ModelSpec, ...]] = ()  # catalog entries of its own (beside the providers')

    def default_model(self) -> str:
        """The model of a create that names none."""
        from django.conf import settings

        return getattr(settings, self.default_model_setting)

    def field_names(self) -> frozenset[str]:
        """The names of its own request fields."""
        names = self.__dict__.get("_field_names")
        if names is None:
            names = self._field_names = frozenset(self.fields().fields)
        return names

    def request(self, data: dict, **common) -> TaskRequest:
        """A create's validated data (common fields and this kind's) as a TaskRequest."""
        options = {name: data[name] for name in self.option_names if name in data}
        return TaskRequest(
            kind=self.name,
            user_id=data["user_id"],
            prompt=data["prompt"],
            model=data.get("model") or None,
            reference_images=tuple(data.get("image_urls") or ()),
            seed=data.get("seed"),
            external_task_id=data.get("external_task_id", ""),
            webhook_url=data.get("webhook_url", ""),
            webhook_events=data.get("webhook_events", "terminal"),
            options=options,
            **common,
        )

    def params(self, spec: ModelSpec, request: TaskRequest) -> dict:
        """The task's stored parameters: the request's options checked against the model (InvalidInput
        saying what the model allows), its defaults filled in. Pure: no writes."""
        raise NotImplementedError

    def generation(self, params: dict) -> Generation:
        raise NotImplementedError

    def reserved_units(self, spec: ModelSpec, params: dict) -> int:
        """Priced units a create reserves: the most one generation may deliver."""
        return 1

    def outputs_kept(self, params: dict, outputs: list) -> list:
        """Of what a generation made, what the task keeps (all, unless the kind bounds it)."""
        return outputs

    def delivered_units(self, result: dict | None) -> int:
        """Priced units a result delivered (charged; the rest of the reservation is released)."""
        return len((result or {}).get(self.output, []))

    def result_answer(self, result: dict, file_url) -> dict:
        """How a completed task's result reads (`file_url(name)` makes a stored file's URL)."""
        raise NotImplementedError

    def model_entry(self, spec: ModelSpec) -> dict:
        """What the model catalog (`/api/v1/ai/models`) says of a model of this kind, beyond the common."""
        return {}
