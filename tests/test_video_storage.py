"""Storing a generated video: downloaded through the outbound guard within its size cap, parsed before
it is kept (what is not an MP4 is refused), and the last frame beside it. And the fake's Seedance
answers bad bodies the way Ark does."""

import re

import pytest
import requests

from imagetasks.storage import outputs_store
from providers.base import UpstreamError, Video
from providers.videos import mp4_probe
from tests.mp4 import mp4_facts

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(fake_upstream, settings, tmp_path):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # the fake is on loopback
    settings.MEDIA_ROOT = str(tmp_path)
    return fake_upstream


def _videos_store(task_id: str, videos: list) -> list[dict]:
    return outputs_store(task_id=task_id, attempt=1, videos=videos)["videos"]


def test_a_video_and_its_last_frame_are_stored_and_described(fake, tmp_path):
    url = f"{fake.url}/videos/abc/864x480/3s.mp4"
    frame = f"{fake.url}/images/abc/864x480/9.png"
    [stored] = _videos_store("t1", [Video(url=url, last_frame_url=frame)])
    assert (stored["width"], stored["height"], stored["duration"]) == (864, 480, 3.0)
    assert re.fullmatch(r"videos/t1/1-0-[\w-]{22}\.mp4", stored["name"]) and stored["source_url"] == url
    assert re.fullmatch(r"videos/t1/1-0-last-[\w-]{22}\.png", stored["last_frame"].pop("name"))
    assert stored["last_frame"] == {"width": 864, "height": 480, "content_type": "image/png"}
    assert mp4_facts((tmp_path / stored["name"]).read_bytes())["video_sizes"] == [(864, 480)]


def test_a_video_over_the_size_cap_is_not_kept(fake, settings, tmp_path):
    settings.VIDEO_DOWNLOAD_MAX_BYTES = 1000
    with pytest.raises(UpstreamError) as refused:
        _videos_store("t2", [Video(url=f"{fake.url}/videos/abc/864x480/3s.mp4")])
    assert refused.value.message.startswith("the generated video was not downloaded")
    assert not refused.value.retryable
    assert not list(tmp_path.rglob("*.mp4"))


def test_a_video_url_to_a_private_address_is_not_fetched(fake, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    with pytest.raises(UpstreamError) as refused:
        _videos_store("t3", [Video(url=f"{fake.url}/videos/abc/864x480/3s.mp4")])
    assert "not a public address" in refused.value.message
    assert fake.state.snapshot()["requests"] == {}  # nothing reached it


def test_what_is_not_an_mp4_is_refused_as_a_final_upstream_fault(fake, tmp_path):
    """The same URL will serve the same wrong body: no retry (it once looped for the task's deadline)."""
    with pytest.raises(UpstreamError) as refused:
        _videos_store("t4", [Video(url=f"{fake.url}/images/abc/64x64/0.png")])
    assert refused.value.message.startswith("the upstream returned a video that is not an MP4")
    assert not refused.value.retryable and refused.value.code == "bad_output"
    with pytest.raises(ValueError):
        mp4_probe(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)  # a header, no movie
    assert not list(tmp_path.rglob("*.mp4"))


@pytest.mark.parametrize(
    ("change", "code", "param"),
    [
        ({"duration": 20}, "InvalidParameter", "duration"),
        ({"resolution": "4k"}, "InvalidParameter", "resolution"),
        ({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}, "InvalidParameter", "content"),
        (
            {
                "content": [
                    {"type": "text", "text": "a"},
                    {"type": "image_url", "image_url": {"url": "https://x/a.png"}, "role": "last_frame"},
                ]
            },
            "InvalidParameter",
            "content",
        ),
        ({"model": "doubao-seedance-9"}, "InvalidEndpointOrModel.NotFound", "model"),
    ],
)
def test_the_fake_refuses_a_bad_seedance_body_as_ark_does(fake_upstream, change, code, param):
    body = {"model": "doubao-seedance-1-0-pro-250528", "content": [{"type": "text", "text": "a cat"}], **change}
    answer = requests.post(
        f"{fake_upstream.url}/api/v3/contents/generations/tasks",
        json=body,
        headers={"Authorization": f"Bearer {fake_upstream.config.ark_api_key}"},
        timeout=10,
    )
    assert answer.status_code in (400, 404)
    assert (answer.json()["error"]["code"], answer.json()["error"]["param"]) == (code, param)
    unauthorized = requests.post(f"{fake_upstream.url}/api/v3/contents/generations/tasks", json=body, timeout=10)
    assert unauthorized.status_code == 401 and unauthorized.json()["error"]["code"] == "AuthenticationError"


def test_a_stored_video_is_served_in_byte_ranges(settings, tmp_path):
    """What a video player asks for while it seeks (Safari asks before it plays at all)."""
    from django.test import Client

    from imagetasks.models import ImageTask
    from users.models import User

    settings.MEDIA_ROOT = str(tmp_path)
    User.objects.create(id="u1")
    ImageTask.objects.create(
        id="v1", user_id="u1", kind="video", provider="local", model="m", prompt="p", status="completed",
        result={"videos": [{"name": "videos/v1/1-0.mp4"}]},
    )  # fmt: skip
    (tmp_path / "videos" / "v1").mkdir(parents=True)
    data = bytes(range(256)) * 40  # 10,240 bytes
    (tmp_path / "videos" / "v1" / "1-0.mp4").write_bytes(data)
    url = "/media/videos/v1/1-0.mp4"
    client = Client()

    whole = client.get(url)
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes" and whole["Content-Type"] == "video/mp4"
    for asked, (start, end) in {
        "bytes=0-": (0, 10239),
        "bytes=100-199": (100, 199),
        "bytes=-240": (10000, 10239),
        "bytes=0-" + "9" * 5000: (0, 10239),  # a number Python will not convert: it saturates (was a 500)
        "bytes=-" + "9" * 5000: (0, 10239),
    }.items():
        part = client.get(url, headers={"Range": asked})
        assert part.status_code == 206, asked
        assert part["Content-Range"] == f"bytes {start}-{end}/10240" and int(part["Content-Length"]) == end - start + 1
        assert b"".join(part.streaming_content) == data[start : end + 1], asked
    for outside in ("bytes=20000-", "bytes=" + "9" * 5000 + "-"):
        refused = client.get(url, headers={"Range": outside})
        assert refused.status_code == 416 and refused["Content-Range"] == "bytes */10240"
