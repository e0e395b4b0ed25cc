"""Nothing accepted and ignored: on every create — the seed's image and video endpoints, the generic one,
and OpenAI's generations, edits and videos — an unknown field, a field of the other kind and a field
of the wrong type each answer 400 naming the field, and write nothing. OpenAI's endpoints answer in
OpenAI's error shape, `param` naming it; OpenAI's own parameters are honoured or refused by name."""

import io

import pytest
from PIL import Image
from rest_framework.test import APIClient

from imagetasks.models import ImageTask

pytestmark = pytest.mark.django_db


def _png() -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 120, 200)).save(out, format="PNG")
    out.seek(0)
    out.name = "ref.png"
    return out


IMAGE = ("/api/v1/ai/image/task", {"prompt": "a cat", "user_id": "u1"}, "json")
VIDEO = ("/api/v1/ai/video/task", {"prompt": "a cat", "user_id": "u1"}, "json")
GENERIC = ("/api/v1/ai/tasks", {"prompt": "a cat", "user_id": "u1"}, "json")
GENERIC_VIDEO = ("/api/v1/ai/tasks", {"prompt": "a cat", "user_id": "u1", "type": "video"}, "json")
OPENAI = ("/v1/images/generations", {"prompt": "a cat"}, "json")
EDITS = ("/v1/images/edits", {"prompt": "a cat"}, "multipart")
VIDEOS = ("/v1/videos", {"prompt": "a cat"}, "json")

# (endpoint, what is wrong, the field sent, its value, the field the 400 names)
CASES = [
    (IMAGE, "unknown field", "colour", "red", "colour"),
    (IMAGE, "other kind's field", "duration", 5, "duration"),
    (IMAGE, "wrong type", "prompt", 123, "prompt"),
    (VIDEO, "unknown field", "colour", "red", "colour"),
    (VIDEO, "other kind's field", "size", "1024x1024", "size"),
    (VIDEO, "wrong type", "prompt", 123, "prompt"),
    (GENERIC, "unknown field", "colour", "red", "colour"),
    (GENERIC, "other kind's field", "duration", 5, "duration"),
    (GENERIC, "wrong type", "prompt", 123, "prompt"),
    (GENERIC_VIDEO, "other kind's field", "size", "1024x1024", "size"),
    (OPENAI, "unknown field", "colour", "red", "colour"),
    (OPENAI, "other kind's field", "seconds", 4, "seconds"),
    (OPENAI, "wrong type", "prompt", 123, "prompt"),
    (EDITS, "unknown field", "colour", "red", "colour"),
    (EDITS, "other kind's field", "seconds", "4", "seconds"),
    (EDITS, "wrong type", "n", "three", "n"),
    (VIDEOS, "unknown field", "colour", "red", "colour"),
    (VIDEOS, "other kind's field", "quality", "hd", "quality"),
    (VIDEOS, "wrong type", "prompt", 123, "prompt"),
]


@pytest.mark.parametrize(
    ("endpoint", "wrong", "field", "value", "named"), CASES, ids=[f"{c[0][0]} {c[1]}" for c in CASES]
)
def test_every_create_refuses_what_it_would_ignore_naming_the_field(settings, endpoint, wrong, field, value, named):
    settings.OPENAI_WAIT_SECONDS = 0
    path, body, form = endpoint
    body = {**body, field: value}
    if form == "multipart":
        answer = APIClient().post(path, {**body, "image": _png()}, format="multipart")
    else:
        answer = APIClient().post(path, body, format="json")
    assert answer.status_code == 400, (wrong, answer.content)
    payload = answer.json()
    assert payload["message"].startswith(f"{named}:"), payload["message"]
    if path.startswith("/v1/"):
        assert payload["error"]["param"] == named and payload["error"]["type"] == "invalid_request_error"
    assert ImageTask.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("style", "vivid", "no model here takes a style"),
        ("output_format", "webp", "kept in the format the model makes"),
        ("background", "transparent", "no model here makes transparent backgrounds"),
        ("moderation", "low", "the upstream's own moderation always applies"),
        (
            "n",
            3,
            "n: doubao-seedream-3-0-t2i-250415 makes at most 1 image(s) per task; n up to 3 on doubao-seedream-4-0-250828, jimeng_t2i_v40",
        ),
    ],
)
def test_openai_parameters_not_honoured_are_refused_saying_why(settings, field, value, says):
    answer = APIClient().post("/v1/images/generations", {"prompt": "a cat", field: value}, format="json")
    assert answer.status_code == 400
    assert says in answer.json()["error"]["message"]
    assert ImageTask.objects.count() == 0


def test_openai_parameters_that_are_honoured(settings):
    settings.OPENAI_WAIT_SECONDS = 0
    body = {"prompt": "a cat", "model": "jimeng_t2i_v40", "n": 3, "quality": "high", "moderation": "auto"}
    answer = APIClient().post("/v1/images/generations", {**body, "background": "opaque"}, format="json")
    assert answer.status_code == 202, answer.content
    task = ImageTask.objects.get()
    assert (task.params["n"], task.params["quality"]) == (3, "hd")
