"""A gateway in front of the server sends what LiteLLM sends to an OpenAI-compatible base URL:
images as the OpenAI SDK's JSON, edits as multipart with each image in a repeated `image[]` field and
the numbers as form strings, videos as JSON (`seconds` a string) or, with a reference, as multipart
with the file in `input_reference`; then it polls, downloads and deletes. Each shape works, and the
answers carry what the gateway reads (ids, status, urls, seconds)."""

import io

import pytest
import requests
from PIL import Image

pytestmark = pytest.mark.stack


@pytest.fixture
def gateway(make_stack):
    stack = make_stack(env={"API_AUTH": "required", "LOCAL_PROVIDER_LATENCY_SECONDS": "0.3"}).start()
    key = stack.manage("create_api_key", "--service", "--name", "gateway").strip().split()[-1]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    return stack, session


def _png(color) -> bytes:
    picture = io.BytesIO()
    Image.new("RGB", (96, 64), color).save(picture, format="PNG")
    return picture.getvalue()


def _settled(stack, session, video_id) -> dict:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = session.get(stack.url(f"/v1/videos/{video_id}"), timeout=10).json()
        if answer["status"] in {"completed", "failed"}:
            return answer
        time.sleep(0.2)
    raise AssertionError(f"video {video_id} still {answer['status']}")


def test_litellm_image_generation_and_edit_shapes(gateway):
    stack, session = gateway
    made = session.post(
        stack.url("/v1/images/generations"),
        json={
            "model": "jimeng_t2i_v40",
            "prompt": "two lanterns",
            "n": 2,
            "size": "1024x1024",
            "response_format": "url",
            "user": "gw-user",
        },
        timeout=60,
    )
    assert made.status_code == 200, made.text
    body = made.json()
    assert isinstance(body["created"], int) and len(body["data"]) == 2
    assert all(requests.get(item["url"], timeout=10).content.startswith(b"\x89PNG") for item in body["data"])

    first, second = _png((200, 30, 30)), _png((30, 200, 30))
    edited = session.post(
        stack.url("/v1/images/edits"),
        data={"model": "jimeng_t2i_v40", "prompt": "image 1 wearing image 2", "n": "1", "size": "1024x1024"},
        files=[("image[]", ("image.png", first, "image/png")), ("image[]", ("image.png", second, "image/png"))],
        timeout=60,
    )
    assert edited.status_code == 200, edited.text
    assert len(edited.json()["data"]) == 1
    task = session.get(stack.url("/api/v1/tasks/user/openai"), timeout=10).json()["data"]["items"][0]
    stored = [requests.get(url, timeout=10).content for url in task["params"]["image_urls"]]
    assert stored == [first, second]  # in the order sent: the prompt's "image 1", "image 2"

    unknown = session.post(
        stack.url("/v1/images/edits"),
        data={"model": "jimeng_t2i_v40", "prompt": "x", "input_fidelity": "high"},
        files=[("image[]", ("image.png", first, "image/png"))],
        timeout=30,
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"]["param"] == "input_fidelity"


def test_litellm_video_shapes(gateway):
    stack, session = gateway
    created = session.post(
        stack.url("/v1/videos"),
        json={"model": "sora-2", "prompt": "a paper boat", "seconds": "8", "size": "720x1280", "user": "gw-user"},
        timeout=30,
    )
    assert created.status_code == 200, created.text
    video = created.json()
    assert (video["object"], video["status"]) == ("video", "queued")
    done = _settled(stack, session, video["id"])
    assert (done["status"], done["size"]) == ("completed", "720x1280")
    content = session.get(stack.url(f"/v1/videos/{video['id']}/content"), params={"video_id": video["id"]}, timeout=30)
    assert content.status_code == 200 and content.content[4:8] == b"ftyp"

    with_reference = session.post(
        stack.url("/v1/videos"),
        data={"model": "doubao-seedance-1-0-pro-250528", "prompt": "the card flies", "seconds": "5", "user": "gw-user"},
        files=[("input_reference", ("input_reference.png", _png((200, 200, 30)), "image/png"))],
        timeout=30,
    )
    assert with_reference.status_code == 200, with_reference.text
    assert _settled(stack, session, with_reference.json()["id"])["status"] == "completed"

    listed = session.get(
        stack.url("/v1/videos"), params={"limit": "10", "order": "desc", "user": "gw-user"}, timeout=10
    ).json()
    assert {item["id"] for item in listed["data"]} == {video["id"], with_reference.json()["id"]}
    deleted = session.delete(stack.url(f"/v1/videos/{video['id']}"), timeout=10).json()
    assert (deleted["id"], deleted["deleted"]) == (video["id"], True)
    assert session.get(stack.url(f"/v1/videos/{video['id']}"), timeout=10).status_code == 404
