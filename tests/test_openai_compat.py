"""The official `openai` client, pointed at the server, generates images through POST
/v1/images/generations with our API keys; a task still running is answered with its id."""

import base64
import io

import openai
import pytest
import requests

pytestmark = pytest.mark.stack


@pytest.fixture
def served(make_stack):
    """A server that requires keys, as in production, and a user key for alice."""
    stack = make_stack(env={"API_AUTH": "required", "LOCAL_PROVIDER_LATENCY_SECONDS": "0.5"}).start()
    service_key = stack.manage("create_api_key", "--service", "--name", "tests").strip().split()[-1]
    return stack, service_key


def _client(stack, key, **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.url("/v1"), api_key=key, max_retries=0, **kwargs)


def test_the_openai_client_gets_an_image_url(served):
    stack, key = served
    answer = _client(stack, key).images.generate(
        prompt="a red lantern", model="dall-e-3", size="1024x1024", user="alice"
    )
    assert len(answer.data) == 1
    image = requests.get(answer.data[0].url, timeout=10)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    tasks = stack.session.get(stack.url("/api/v1/tasks/user/alice"), headers={"Authorization": f"Bearer {key}"})
    assert tasks.json()["data"]["total"] == 1  # a normal task, in alice's history


def test_b64_json(served):
    stack, key = served
    answer = _client(stack, key).images.generate(prompt="a blue kite", response_format="b64_json", size="512x512")
    assert base64.b64decode(answer.data[0].b64_json).startswith(b"\x89PNG")


def test_a_task_still_running_is_answered_with_its_id(make_stack):
    stack = make_stack(
        env={"API_AUTH": "required", "LOCAL_PROVIDER_LATENCY_SECONDS": "30", "OPENAI_WAIT_SECONDS": "1"}
    ).start()
    key = stack.manage("create_api_key", "--service", "--name", "tests").strip().split()[-1]
    answer = _client(stack, key).images.generate(prompt="a very slow painting", size="512x512")
    assert answer.data == []
    task_id = answer.model_extra["task_id"]
    polled = stack.session.get(stack.url(f"/api/v1/ai/image/result/{task_id}"), headers={"X-API-Key": key})
    assert polled.json()["data"]["status"] in {"pending", "processing"}


def test_bad_input_and_bad_keys_raise_the_clients_errors(served):
    stack, key = served
    with pytest.raises(openai.BadRequestError) as bad:
        _client(stack, key).images.generate(prompt="a cat", size="13x13")
    assert "13x13" in bad.value.message or "size" in bad.value.message
    assert bad.value.body["message"]  # our envelope rides along
    with pytest.raises(openai.AuthenticationError):
        _client(stack, "jk_not-a-key").images.generate(prompt="a cat")


def test_edits_upload_reference_images_the_task_refers_to(served, tmp_path):
    from PIL import Image

    stack, key = served
    reference = tmp_path / "reference.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(reference)
    with reference.open("rb") as upload:
        answer = _client(stack, key).images.edit(image=upload, prompt="the same, in blue", user="bob")
    assert requests.get(answer.data[0].url, timeout=10).content.startswith(b"\x89PNG")

    headers = {"Authorization": f"Bearer {key}"}
    task = stack.session.get(stack.url("/api/v1/tasks/user/bob"), headers=headers).json()["data"]["items"][0]
    assert task["model"] == "jimeng_t2i_v40"  # OPENAI_EDIT_MODEL: OpenAI clients name no model of ours
    [stored] = task["params"]["image_urls"]
    assert "/media/uploads/" in stored
    assert requests.get(stored, timeout=10).content == reference.read_bytes()


def test_edits_refuse_a_file_that_is_no_image_and_keep_nothing(served, tmp_path):
    stack, key = served
    fake = tmp_path / "notes.png"
    fake.write_bytes(b"not an image at all")
    with fake.open("rb") as upload, pytest.raises(openai.BadRequestError) as bad:
        _client(stack, key).images.edit(image=upload, prompt="anything")
    assert "not a readable image" in bad.value.message
    assert not list((stack.data_dir / "media").glob("uploads/*/*"))


def test_edits_with_a_model_that_takes_no_references_keep_nothing(served, tmp_path):
    from PIL import Image

    stack, key = served
    reference = tmp_path / "reference.png"
    Image.new("RGB", (64, 48), (20, 30, 200)).save(reference)
    with reference.open("rb") as upload, pytest.raises(openai.BadRequestError) as bad:
        _client(stack, key).images.edit(image=upload, prompt="anything", model="jimeng_t2i_v30")
    assert "does not take reference images" in bad.value.message
    assert not list((stack.data_dir / "media").glob("uploads/*/*"))  # the upload was removed again


def test_the_openai_client_makes_a_video_and_downloads_the_mp4(served, tmp_path):
    from tests.mp4 import mp4_facts

    stack, key = served
    client = _client(stack, key)
    video = client.videos.create(prompt="a paper boat on a river", model="sora-2", seconds="8", size="1280x720")
    assert (video.object, video.status, video.model) == ("video", "queued", "jimeng_t2v_v30")
    assert video.seconds == "10"  # the nearest duration jimeng_t2v_v30 makes (5 or 10)
    done = client.videos.poll(video.id, poll_interval_ms=200)
    assert (done.status, done.progress, done.size) == ("completed", 100, "1280x720")
    content = client.videos.download_content(video.id)
    facts = mp4_facts(content.content)
    assert facts["video_sizes"] == [(1280, 720)] and facts["has_avc"]

    listed = client.videos.list(limit=5)
    assert [item.id for item in listed.data] == [video.id]
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve("no-such-video")


def test_the_openai_client_sends_a_reference_image_and_asks_for_a_seedance_model(served):
    import io

    from PIL import Image

    stack, key = served
    picture = io.BytesIO()
    Image.new("RGB", (640, 360), (200, 40, 40)).save(picture, format="PNG")
    client = _client(stack, key)
    video = client.videos.create(
        prompt="the red card flies away",
        model="doubao-seedance-1-0-pro-250528",
        seconds="4",
        size="720x1280",
        input_reference=("card.png", picture.getvalue(), "image/png"),
    )
    assert video.seconds == "4" and video.size == "720x1280"
    detail = stack.session.get(stack.url(f"/api/v1/tasks/{video.id}"), headers={"X-API-Key": key}).json()["data"]
    assert detail["params"]["image_urls"][0].startswith(stack.base_url + "/media/uploads/")
    assert detail["params"]["aspect_ratio"] == "9:16"  # the size asked for, as the nearest ratio
    done = client.videos.poll(video.id, poll_interval_ms=200)
    assert done.status == "completed"
    with pytest.raises(openai.BadRequestError) as bad:
        client.videos.create(prompt="x", model="jimeng_t2i_v30")
    assert "makes images, not videos" in bad.value.message


def test_the_openai_client_lists_models_makes_a_set_deletes_a_video_and_downloads_a_thumbnail(served):
    """What a client or a gateway does first and last: list the models (ours, their aliases, and the
    OpenAI names we run), make n images at once, delete a video, fetch a video's thumbnail."""
    from PIL import Image

    stack, key = served
    client = _client(stack, key)
    listed = {model.id: model for model in client.models.list()}
    assert {"jimeng_t2i_v40", "jimeng-4.0", "dall-e-3", "sora-2", "doubao-seedance-1-0-pro-250528"} <= set(listed)
    assert listed["jimeng-4.0"].model_extra["root"] == "jimeng_t2i_v40"
    assert listed["sora-2"].model_extra["type"] == "video" and listed["dall-e-3"].model_extra["type"] == "image"
    assert client.models.retrieve("jimeng_t2i_v30").owned_by == "jimeng"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")

    three = client.images.generate(prompt="three lanterns", model="jimeng_t2i_v40", n=3, size="2048x2048")
    assert len(three.data) == 3 and len({item.url for item in three.data}) == 3

    video = client.videos.create(prompt="a paper boat", model="jimeng_t2v_v30", seconds="5")
    assert client.videos.poll(video.id, poll_interval_ms=200).status == "completed"
    thumbnail = client.videos.download_content(video.id, variant="thumbnail")
    with Image.open(io.BytesIO(thumbnail.content)) as picture:
        assert picture.size == (1280, 720)  # the video's own last frame: it asked for none
    deleted = client.videos.delete(video.id)
    assert (deleted.id, deleted.deleted) == (video.id, True)
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
