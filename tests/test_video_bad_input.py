"""A video request the model cannot make is a 400 that says what the model allows, and writes nothing —
through the video endpoint and the generic one (type video); an image endpoint refuses video models
and the other way round."""

import pytest
from rest_framework.test import APIClient

from imagetasks.models import ImageTask
from users.models import User

pytestmark = pytest.mark.django_db

VIDEO = "/api/v1/ai/video/task"
GENERIC = "/api/v1/ai/tasks"
CAT, DOG, OWL = "https://example.com/cat.png", "https://example.com/dog.png", "https://example.com/owl.png"
GOOD = {"prompt": "a cat dancing", "user_id": "user_123", "model": "jimeng_t2v_v30"}

BAD = [
    ("duration Jimeng lacks", {"duration": 7}, "duration for jimeng_t2v_v30 must be one of 5, 10 seconds, got 7."),
    (
        "duration Seedance lacks",
        {"model": "doubao-seedance-1-0-pro-250528", "duration": 13},
        "duration for doubao-seedance-1-0-pro-250528 must be one of 2 to 12 seconds, got 13.",
    ),
    (
        "unknown ratio",
        {"aspect_ratio": "2:1"},
        "aspect_ratio for jimeng_t2v_v30 must be one of 16:9, 4:3, 1:1, 3:4, 9:16, 21:9, got '2:1'.",
    ),
    (
        "ratio with a first frame",
        {"model": "jimeng_i2v_first_v30", "image_urls": [CAT], "aspect_ratio": "16:9"},
        "jimeng_i2v_first_v30 makes the video in the reference image's aspect ratio; leave aspect_ratio out.",
    ),
    (
        "resolution the model lacks",
        {"resolution": "1080p"},
        "resolution for jimeng_t2v_v30 must be one of 720p, got '1080p' (1080p: jimeng_t2v_v30_1080p,",
    ),
    ("resolution nobody makes", {"model": "seedance-2.0", "resolution": "4k"}, "resolution for doubao-seedance-2-0"),
    (
        "images on text-to-video",
        {"image_urls": [CAT]},
        "jimeng_t2v_v30 does not take reference images; leave image_urls out or pick a model that does.",
    ),
    (
        "first frame missing",
        {"model": "jimeng_i2v_first_tail_v30", "image_urls": [CAT]},
        "jimeng_i2v_first_tail_v30 needs at least 2 reference image(s) in image_urls.",
    ),
    (
        "three images for the picker",
        {"model": "jimeng_v30", "image_urls": [CAT, DOG, OWL]},
        "jimeng_v30 takes at most 2",
    ),
    (
        "last frame from Jimeng",
        {"return_last_frame": True},
        "jimeng_t2v_v30 does not return its last frame; leave return_last_frame out.",
    ),
    (
        "an image model",
        {"model": "jimeng_t2i_v30"},
        "jimeng_t2i_v30 makes images, not videos. Valid video models: jimeng_v30, jimeng_t2v_v30,",
    ),
    ("duration not a number", {"duration": "long"}, "duration: A valid integer is required."),
    (
        "image URL to a private address",
        {"model": "jimeng_i2v_first_v30", "image_urls": ["http://127.0.0.1/a.png"]},
        "image_urls[0] is not allowed",
    ),
    ("webhook without a secret", {"webhook_url": "https://example.com/hook"}, "This server sends no webhooks"),
]


@pytest.fixture
def client(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []  # the tests' own exemption for the fake's loopback URLs
    return APIClient()


@pytest.mark.parametrize(("case", "changes", "message"), BAD, ids=[case for case, _, _ in BAD])
@pytest.mark.parametrize("url", [VIDEO, GENERIC])
def test_bad_video_bodies(client, url, case, changes, message):
    body = {**GOOD, **changes, **({"type": "video"} if url == GENERIC else {})}
    response = client.post(url, body, format="json")
    assert response.status_code == 400, response.content
    payload = response.json()
    assert payload["success"] is False
    assert payload["message"].startswith(message), payload["message"]
    assert ImageTask.objects.count() == 0
    assert User.objects.count() == 0  # nothing half-written


@pytest.mark.parametrize("url", [VIDEO, GENERIC])
def test_image_knobs_on_a_video_and_video_knobs_on_an_image(client, url):
    """Refused alike by the dedicated endpoints and the generic one, naming the field and whose it is."""
    video = client.post(
        url,
        {**GOOD, "type": "video", "size": "1024x1024"} if url == GENERIC else {**GOOD, "size": "1024x1024"},
        format="json",
    ).json()
    assert video["message"] == "size: a field of image tasks; this is a video task."
    image = {"prompt": "a cat", "user_id": "u1", "duration": 5}
    image_url = GENERIC if url == GENERIC else "/api/v1/ai/image/task"
    assert (
        client.post(image_url, image, format="json").json()["message"]
        == "duration: a field of video tasks; this is an image task."
    )
    on_image_endpoint = client.post(
        "/api/v1/ai/image/task", {"prompt": "a cat", "user_id": "u1", "model": "jimeng_t2v_v30"}, format="json"
    )
    assert on_image_endpoint.status_code == 400
    assert on_image_endpoint.json()["message"].startswith("jimeng_t2v_v30 makes videos, not images.")
    assert ImageTask.objects.count() == 0


def test_defaults_come_from_the_model(client):
    created = client.post(VIDEO, {"prompt": "x", "user_id": "u1"}, format="json").json()["data"]
    task = ImageTask.objects.get(pk=created["task_id"])
    assert (task.kind, task.model) == ("video", "jimeng_t2v_v30")  # jimeng_v30 with no image
    assert task.params == {"duration": 5, "aspect_ratio": "16:9", "resolution": "720p"}
    seedance = client.post(
        GENERIC,
        {"type": "image_to_video", "prompt": "x", "user_id": "u1", "model": "seedance-1.0-pro", "image_urls": [CAT]},
        format="json",
    ).json()["data"]
    task = ImageTask.objects.get(pk=seedance["task_id"])
    assert task.params == {"duration": 5, "aspect_ratio": "adaptive", "resolution": "1080p", "image_urls": [CAT]}
    assert task.provider == "local"  # no Ark key here: the local provider draws it
