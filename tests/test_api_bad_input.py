"""Every bad input answers 4xx in the envelope with a message that says what is wrong, and writes nothing."""

import pytest
from rest_framework.test import APIClient

from imagetasks.models import ImageTask
from tests import hostile
from users.models import User

pytestmark = pytest.mark.django_db

TASK = "/api/v1/ai/image/task"
GENERIC = "/api/v1/ai/tasks"
USERS = "/api/v1/users"
GOOD = {"prompt": "a cat", "user_id": "user_123", "model": "doubao-seedream-3.0-t2i", "size": "1024x1024"}


def _with(**changes):
    body = dict(GOOD)
    for key, value in changes.items():
        if value is _MISSING:
            body.pop(key)
        else:
            body[key] = value
    return body


_MISSING = object()

BAD_TASK_BODIES = [
    ("missing prompt", _with(prompt=_MISSING), 400, "prompt: This field is required."),
    ("empty prompt", _with(prompt=""), 400, "prompt: This field may not be blank."),
    ("blank prompt", _with(prompt="   \n "), 400, "prompt: This field may not be blank."),
    (
        "prompt too long",
        _with(prompt="猫" * 801),
        400,
        "prompt is 801 characters long; doubao-seedream-3-0-t2i-250415 accepts at most 800.",
    ),
    (
        "prompt far too long",
        _with(prompt="x" * 5000),
        400,
        "prompt: Ensure this field has no more than 4000 characters.",
    ),
    ("prompt not a string", _with(prompt=["a"]), 400, "prompt: must be a string, not a list."),
    ("prompt a number", _with(prompt=123), 400, "prompt: must be a string, not a number."),
    ("size a number", _with(size=1024), 400, "size: must be a string, not a number."),
    ("an unknown field", _with(colour="red"), 400, "colour: not a field of a task create."),
    ("missing user_id", _with(user_id=_MISSING), 400, "user_id: This field is required."),
    ("user_id with spaces", _with(user_id="user 123"), 400, "user_id: must be 1-64 characters"),
    ("user_id too long", _with(user_id="u" * 65), 400, "user_id: Ensure this field has no more than 64 characters."),
    ("user_id path traversal", _with(user_id="../etc"), 400, "user_id: must be 1-64 characters"),
    (
        "unknown model",
        _with(model="dall-e-3"),
        400,
        "Unknown model 'dall-e-3'. Valid models: doubao-seedream-3-0-t2i-250415,",
    ),
    ("size without x", _with(size="1024"), 400, "size must look like '1024x1024'"),
    ("size with words", _with(size="big"), 400, "size must look like '1024x1024'"),
    ("size negative", _with(size="-1x1024"), 400, "size must look like '1024x1024'"),
    (
        "size too small",
        _with(size="100x100"),
        400,
        "size 100x100 is out of range for doubao-seedream-3-0-t2i-250415: each side must be between 512 and 2048 pixels.",
    ),
    ("size too large", _with(size="4096x4096"), 400, "size 4096x4096 is out of range"),
    (
        "size aspect",
        _with(model="jimeng_t2i_v30", size="2048x512"),
        400,
        "size 2048x512 is out of range for jimeng_t2i_v30: the aspect ratio may not exceed 3:1.",
    ),
    ("quality unknown", _with(quality="ultra"), 400, 'quality: "ultra" is not a valid choice.'),
    ("seed not a number", _with(seed="abc"), 400, "seed: A valid integer is required."),
    ("seed out of range", _with(seed=2**40), 400, "seed: Ensure this value is less than or equal to 2147483647."),
    (
        "reference images on a text model",
        _with(image_urls=["https://example.com/a.png"]),
        400,
        "doubao-seedream-3-0-t2i-250415 does not take reference images; leave image_urls out or pick a model that does.",
    ),
    (
        "reference image not a URL",
        _with(model="jimeng_t2i_v40", size="2048x2048", image_urls=["not a url"]),
        400,
        "image_urls.0: Enter a valid URL.",
    ),
    (
        "seededit without image",
        _with(model="seededit-3.0"),
        400,
        "doubao-seededit-3-0-i2i-250628 needs at least 1 reference image(s) in image_urls.",
    ),
    ("scale on a model without it", _with(scale=0.5), 400, "doubao-seedream-3-0-t2i-250415 does not take 'scale'."),
    (
        "scale out of range",
        _with(model="jimeng_t2i_v40", size="2048x2048", scale=2),
        400,
        "scale for jimeng_t2i_v40 must be between 0 and 1, got 2.",
    ),
    (
        "scale not whole",
        _with(model="jimeng-4.6", size="2048x2048", scale=50.5),
        400,
        "scale for jimeng_seedream46_cvtob must be a whole number, got 50.5.",
    ),
    (
        "flag on a model without it",
        _with(model="jimeng_t2i_v30", size="1328x1328", force_single=True),
        400,
        "jimeng_t2i_v30 does not take 'force_single'.",
    ),
    ("flag not a boolean", _with(use_pre_llm="maybe"), 400, "use_pre_llm: Must be a valid boolean."),
    ("body is a list", ["prompt"], 400, "Invalid data. Expected a dictionary, but got list."),
]


@pytest.fixture
def client():
    return APIClient()


@pytest.mark.parametrize(("case", "body", "status", "message"), BAD_TASK_BODIES, ids=[c[0] for c in BAD_TASK_BODIES])
@pytest.mark.parametrize("url", [TASK, GENERIC])
def test_bad_task_bodies(client, url, case, body, status, message):
    response = client.post(url, body, format="json")
    assert response.status_code == status, response.content
    payload = response.json()
    assert payload["success"] is False
    assert payload["message"].startswith(message), payload["message"]
    assert ImageTask.objects.count() == 0
    assert User.objects.count() == 0  # nothing half-written: not even the implicit user


def test_unknown_model_lists_valid_ones(client):
    payload = client.post(TASK, _with(model="nope"), format="json").json()
    assert "jimeng_t2i_v30" in payload["message"]
    assert "jimeng_t2i_v30" in payload["valid_models"]


def test_generic_form_rejects_other_task_types(client):
    response = client.post(GENERIC, {**GOOD, "type": "audio"}, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "type: 'audio' is not a task type this server runs; use 'image' or 'video'."


@pytest.mark.parametrize("url", [TASK, GENERIC, USERS])
def test_malformed_json(client, url):
    response = client.post(url, data='{"prompt": "a cat",', content_type="application/json")
    assert response.status_code == 400
    payload = response.json()
    assert payload["success"] is False
    assert payload["message"].startswith("Request body is not valid JSON (JSON parse error")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
def test_wrong_content_type(client, content_type):
    response = client.post(TASK, data="prompt=a+cat&user_id=u1", content_type=content_type)
    assert response.status_code == 415
    assert response.json() == {
        "success": False,
        "message": f"Send the request body as JSON with 'Content-Type: application/json' (got '{content_type}').",
    }


def test_empty_body(client):
    response = client.post(TASK, data="", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"] == "user_id: This field is required."


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/ai/image/result/does-not-exist",
        "/api/v1/tasks/does-not-exist",
        "/api/v1/tasks/does-not-exist/cancel",
        "/api/v1/tasks/does-not-exist/retry",
        "/api/v1/tasks/user/nobody/external/ext-1",
        "/api/v1/users/nobody",
    ],
)
def test_unknown_ids_are_404(client, url):
    method = client.post if url.endswith(("cancel", "retry")) else client.get
    response = method(url)
    assert response.status_code == 404
    payload = response.json()
    assert payload["success"] is False
    assert "not found" in payload["message"] or "has no task" in payload["message"]


def test_unknown_route_is_404_in_the_envelope(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"success": False, "message": "No endpoint at /api/v1/nothing-here."}


def test_wrong_method_is_405(client):
    response = client.delete(TASK)
    assert response.status_code == 405
    assert response.json() == {"success": False, "message": 'Method "DELETE" not allowed.'}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=done", 'status: "done" is not a valid choice.'),
        ("page=0", "page: Ensure this value is greater than or equal to 1."),
        ("page=abc", "page: A valid integer is required."),
        ("page_size=1000", "page_size may be at most 100."),
    ],
)
def test_bad_list_queries(client, query, message):
    response = client.get(f"/api/v1/tasks/user/user_123?{query}")
    assert response.status_code == 400
    assert response.json()["message"] == message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "张三"}, "email: This field is required."),
        ({"email": "not-an-email", "name": "张三"}, "email: Enter a valid email address."),
        ({"email": "a@example.com", "id": "bad id"}, "id: must be 1-64 characters"),
        ({"email": "a@example.com", "name": "x" * 201}, "name: Ensure this field has no more than 200 characters."),
    ],
)
def test_bad_user_bodies(client, body, message):
    response = client.post(USERS, body, format="json")
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)
    assert User.objects.count() == 0


def test_user_lookup_needs_a_valid_email(client):
    assert client.get(USERS).json()["message"] == "email: Pass ?email=<address> to look a user up."
    assert client.get(f"{USERS}?email=nope").json()["message"] == "email: Enter a valid email address."


def test_empty_user_update_is_rejected(client):
    client.post(USERS, {"email": "a@example.com", "id": "u1"}, format="json")
    response = client.put(f"{USERS}/u1", {}, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "Send at least one of: email, name."


def test_oversized_body_is_413(client, settings):
    body = {"prompt": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1), "user_id": "u1"}
    response = client.post(TASK, body, format="json")
    assert response.status_code == 413
    assert response.json() == {
        "success": False,
        "message": f"Request body too large: at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
    }
    assert ImageTask.objects.count() == 0


# --- Shapes that once answered 500 (tests/hostile.py) ---------------------------------------------------

JSON_ENDPOINTS = [TASK, GENERIC, USERS, "/api/v1/keys", "/api/v1/ping", "/v1/images/generations"]


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
@pytest.mark.parametrize("body", [hostile.NESTED_JSON, hostile.NESTED_OBJECT], ids=["array", "object"])
def test_deeply_nested_json_is_a_400(client, path, body):
    response = client.generic("POST", path, body, content_type="application/json")
    assert response.status_code == 400, response.content[:200]
    assert response.json()["success"] is False
    assert response.json()["message"] == "Request body is not valid JSON (JSON nested too deeply)."
    assert ImageTask.objects.count() == 0


@pytest.mark.parametrize("param", ["page", "page_size"])
def test_a_huge_page_number_is_a_400(client, param):
    response = client.get(f"/api/v1/tasks/user/u1?{param}={hostile.HUGE_NUMBER}")
    assert response.status_code == 400
    assert response.json()["message"] == f"{param}: Ensure this value is less than or equal to 1000000."


def test_an_image_declaring_a_billion_pixels_is_a_400(client):
    response = client.post("/v1/images/edits", {"prompt": "p", "image": hostile.bomb_png()})
    assert response.status_code == 400
    assert response.json()["message"] == "image 1 declares more than 36000000 pixels."
    assert ImageTask.objects.count() == 0


def test_too_many_files_is_a_400(client):
    files = [hostile.small_png(f"{n}.png") for n in range(150)]
    response = client.post("/v1/images/edits", {"prompt": "p", "image": files})
    assert response.status_code == 400
    assert response.json()["message"].startswith("Bad request: The number of files exceeded")
    assert ImageTask.objects.count() == 0
    files = [hostile.small_png(f"{n}.png") for n in range(15)]
    response = client.post("/v1/images/edits", {"prompt": "p", "image": files})
    assert response.json()["message"] == "image: at most 14 files, got 15."


def test_a_chunked_body_is_a_411_not_read_as_empty(client):
    response = client.generic(
        "POST",
        TASK,
        b'{"prompt": "a cat", "user_id": "u1"}',
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
    )
    assert response.status_code == 411
    assert response.json()["message"].startswith("Send the request body with a Content-Length header")
    assert ImageTask.objects.count() == 0


@pytest.mark.parametrize("user", ["<script>", "a/b", "x" * 100, "../etc"])
def test_the_openai_user_field_is_a_user_id(client, user):
    response = client.post("/v1/images/generations", {"prompt": "a cat", "user": user}, format="json")
    assert response.status_code == 400
    assert response.json()["message"].startswith("user: ")
    assert User.objects.count() == 0
