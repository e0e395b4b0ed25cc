"""What a client writes is checked before anything is stored or converted: every string (JSON bodies,
form fields, file names, the path and query) through one text check — a lone surrogate or a NUL is a
400 naming where it was, with nothing written — and every number from a header or query bounded
before it is converted (Python refuses more than 4,300 digits: once a 500). A bad string stored before
these checks existed does not take a task, a list or an event stream down with it."""

import io
import json

import pytest
from django.db import connection
from django.test import Client
from PIL import Image
from rest_framework.test import APIClient

from imagetasks import services
from imagetasks.models import ImageTask
from tests.create import create_task
from tests.drive import drive
from users.models import User

pytestmark = pytest.mark.django_db

LONE = '"\\ud800"'  # a lone surrogate, as JSON writes it
BASE = {"prompt": "a cat", "user_id": "u1"}


def _raw(client: Client, path: str, fields: dict, bad: str):
    """POST `fields` as JSON plus one field written as raw JSON text (`name=<JSON>`)."""
    key, value = bad.split("=", 1)
    body = json.dumps(fields)[:-1] + (", " if fields else "") + f'"{key}": {value}}}'
    return client.post(path, data=body.encode(), content_type="application/json")


@pytest.mark.parametrize(
    ("path", "fields", "bad", "named"),
    [
        ("/api/v1/ai/image/task", {"user_id": "u1"}, f"prompt={LONE}", "prompt"),
        ("/api/v1/ai/image/task", BASE, f"external_task_id={LONE}", "external_task_id"),
        ("/api/v1/ai/video/task", {"user_id": "u1"}, f"prompt={LONE}", "prompt"),
        ("/api/v1/ai/tasks", BASE, 'image_urls=["https://example.com/a\\u0000.png"]', "image_urls[0]"),
        ("/v1/images/generations", {"user": "u1"}, f"prompt={LONE}", "prompt"),
        (
            "/v1/videos",
            {"prompt": "a cat"},
            'input_reference={"image_url": "https://x.example/\\ud800"}',
            "input_reference.image_url",
        ),
        ("/api/v1/users", {"email": "a@example.com"}, f"name={LONE}", "name"),
    ],
)
def test_a_lone_surrogate_or_nul_anywhere_in_a_body_is_a_400_naming_it(path, fields, bad, named):
    answer = _raw(Client(), path, fields, bad)
    assert answer.status_code == 400, answer.content
    message = answer.json()["message"]
    assert named in message and ("surrogate" in message or "NUL" in message), message
    assert ImageTask.objects.count() == 0 and User.objects.count() == 0


def test_form_fields_paths_and_queries_are_checked_too():
    client = Client()
    picture = io.BytesIO()
    Image.new("RGB", (64, 64)).save(picture, format="PNG")
    picture.seek(0)
    picture.name = "ref.png"
    upload = client.post("/v1/images/edits", {"prompt": "a cat\x00", "image": picture})
    assert upload.status_code == 400 and "NUL" in upload.json()["message"], upload.content
    form = client.post("/v1/videos", {"prompt": "a dog\x00"})
    assert form.status_code == 400 and "prompt" in form.json()["message"]
    assert client.get("/api/v1/tasks/abc%00def").status_code == 400
    assert client.get("/api/v1/tasks/user/u1?status=pending%00").status_code == 400
    assert ImageTask.objects.count() == 0


@pytest.mark.skipif(
    connection.vendor == "mongodb", reason="MongoDB cannot hold a lone surrogate at all (BSON strings are UTF-8)"
)
def test_a_bad_string_stored_before_the_check_does_not_take_a_list_down():
    """A row written before the text check (a lone surrogate in its params) still reads: escaped."""
    task = create_task(user_id="u1", prompt="a cat")
    create_task(user_id="u1", prompt="a good dog")
    ImageTask.objects.filter(pk=task.pk).update(params={"image_urls": ["https://x.example/\ud800"]})
    client = APIClient()
    listed = client.get("/api/v1/tasks/user/u1")
    assert listed.status_code == 200 and listed.json()["data"]["total"] == 2
    detail = client.get(f"/api/v1/tasks/{task.id}")
    assert detail.status_code == 200 and detail.json()["data"]["params"]["image_urls"] == ["https://x.example/\ud800"]
    events = client.get(f"/api/v1/tasks/{task.id}/events?x=1", HTTP_ACCEPT="text/event-stream")
    services.task_cancel(task_id=task.id)  # so the synchronous stream under the test client ends
    assert events.status_code == 200


def test_numbers_in_headers_and_queries_are_bounded_before_they_are_converted(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    task = create_task(user_id="u1", prompt="a cat dancing", kind="video", model="jimeng_t2v_v30")
    drive(task.id)
    client = APIClient()
    waited = client.get(f"/api/v1/tasks/{task.id}", HTTP_PREFER="wait=" + "9" * 4400)
    assert waited.status_code == 200 and waited["Preference-Applied"] == f"wait={settings.LONG_POLL_MAX_SECONDS}"
    whole = client.get(f"/v1/videos/{task.id}/content", HTTP_RANGE="bytes=0-" + "9" * 5000)
    assert whole.status_code == 206 and whole["Content-Range"].startswith("bytes 0-")
    beyond = client.get(f"/v1/videos/{task.id}/content", HTTP_RANGE="bytes=" + "9" * 5000 + "-")
    assert beyond.status_code == 416
    listed = client.get("/v1/videos?limit=" + "9" * 5000)
    assert listed.status_code == 400 and "limit must be a whole number from 1 to 100" in listed.json()["message"]
