"""Images in an S3-compatible object store (django-storages), against a real S3 server (SeaweedFS,
built by scripts/seaweedfs-build): workers write there, no host keeps a file, the URL in an answer is
a stable one on our server that redirects to a freshly signed URL; retention deletes old files and
their URLs answer 410."""

from __future__ import annotations

import io
import re
import subprocess
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import openai
import pytest
import requests
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from imagetasks import services
from imagetasks import storage as task_storage
from imagetasks.models import ImageTask
from providers.base import Image as GeneratedImage
from tests.create import create_task

from .stack import S3Server


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = S3Server(tmp_path_factory.mktemp("s3")).start()
    yield server
    server.stop()


def _png(color=(200, 30, 30), size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


@pytest.mark.stack
def test_a_task_s_image_lives_in_the_bucket_behind_a_stable_url(make_stack, s3):
    stack = make_stack(env=s3.env(S3_URL_EXPIRY_SECONDS="120")).start()
    health = stack.session.get(stack.url("/health"), timeout=10).json()["data"]
    assert health["storage"] == {"backend": "s3", "bucket": s3.bucket, "retention_days": None}
    task_id = stack.create_task(prompt="a lighthouse", size="800x600")
    data = stack.wait_terminal(task_id)
    assert data["status"] == "completed", data
    image_url = data["result"]["image_url"]
    assert image_url.startswith(stack.base_url + f"/media/images/{task_id}/")  # ours, stable

    first = stack.session.get(image_url, allow_redirects=False, timeout=10)
    assert first.status_code == 302
    signed = first.headers["Location"]
    assert signed.startswith(f"{s3.endpoint}/{s3.bucket}/images/{task_id}/")
    query = parse_qs(urlsplit(signed).query)
    assert query["X-Amz-Expires"] == ["120"] and query["X-Amz-Signature"]
    assert s3.ACCESS_KEY in query["X-Amz-Credential"][0] and s3.SECRET_KEY not in signed

    picture = stack.session.get(image_url, timeout=10)  # followed to the bucket
    assert picture.status_code == 200 and picture.content.startswith(b"\x89PNG")
    assert Image.open(io.BytesIO(picture.content)).size == (800, 600)
    assert s3.keys(f"images/{task_id}/") == [urlsplit(signed).path.split(f"/{s3.bucket}/", 1)[1]]
    assert not list((stack.data_dir / "media").rglob("*.*"))  # nothing on this host's disk

    unsigned = requests.get(signed.split("?")[0], timeout=10)
    assert unsigned.status_code == 403  # the bucket is private: only a signed URL reads it


@pytest.mark.stack
def test_the_seed_workflow_with_s3_downloads_a_png_from_the_bucket(make_stack, s3):
    stack = make_stack(env=s3.env()).start()
    done = stack.seed_client()
    assert done.returncode == 0 and "状态: completed" in done.stdout, done.stdout + done.stderr
    image_url = re.search(r"图片生成完成: (\S+)", done.stdout).group(1)
    task_id = urlsplit(image_url).path.split("/")[3]
    downloaded = subprocess.run(["curl", "-sfL", image_url], capture_output=True, timeout=30)  # follows the 302
    assert downloaded.returncode == 0
    assert Image.open(io.BytesIO(downloaded.stdout)).format == "PNG"
    [key] = s3.keys(f"images/{task_id}/")
    assert s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read() == downloaded.stdout
    assert not list((stack.data_dir / "media").rglob("*.*"))  # no file under the local media folder


@pytest.mark.stack
def test_the_seed_video_workflow_with_s3_downloads_an_mp4_from_the_bucket(make_stack, s3, tmp_path):
    from tests.mp4 import mp4_facts

    stack = make_stack(env=s3.env(LOCAL_PROVIDER_LATENCY_SECONDS="0.2")).start()
    out = tmp_path / "video.mp4"
    done = stack.seed_client("seed_video_client.sh", OUT=str(out))  # its curl follows the 302 to the bucket
    assert "状态: completed" in done.stdout, done.stdout + done.stderr
    video_url = re.search(r"视频生成完成: (\S+)", done.stdout).group(1)
    task_id = urlsplit(video_url).path.split("/")[3]
    [key] = [k for k in s3.keys(f"videos/{task_id}/") if k.endswith(".mp4")]  # and its thumbnail beside it
    assert mp4_facts(out.read_bytes())["video_sizes"] == [(1280, 720)]
    assert s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read() == out.read_bytes()
    assert not list((stack.data_dir / "media").rglob("*.*"))  # nothing on this host's disk


@pytest.mark.stack
def test_openai_edits_keep_their_upload_in_the_bucket(make_stack, s3, tmp_path):
    stack = make_stack(env=s3.env(API_AUTH="required")).start()
    key = stack.manage("create_api_key", "--service", "--name", "tests").strip().split()[-1]
    reference = tmp_path / "reference.png"
    reference.write_bytes(_png())
    client = openai.OpenAI(base_url=stack.url("/v1"), api_key=key, max_retries=0)
    with reference.open("rb") as upload:
        answer = client.images.edit(image=upload, prompt="the same, in blue", user="bob")
    assert requests.get(answer.data[0].url, timeout=10).content.startswith(b"\x89PNG")
    tasks = stack.session.get(stack.url("/api/v1/tasks/user/bob"), headers={"Authorization": f"Bearer {key}"})
    task = tasks.json()["data"]["items"][0]
    assert s3.keys(f"uploads/{task['task_id']}/") and s3.keys(f"images/{task['task_id']}/")
    [stored] = task["params"]["image_urls"]
    assert requests.get(stored, timeout=10).content == reference.read_bytes()
    assert not list((stack.data_dir / "media").rglob("*.*"))


@pytest.fixture(params=["filesystem", "s3"])
def storage(request, settings, tmp_path):
    """This process's default storage: the local disk, or the bucket (as S3_* would configure it)."""
    if request.param == "s3":
        s3 = request.getfixturevalue("s3")
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {
                    "bucket_name": s3.bucket,
                    "endpoint_url": s3.endpoint,
                    "access_key": s3.ACCESS_KEY,
                    "secret_key": s3.SECRET_KEY,
                    "region_name": "us-east-1",
                    "addressing_style": "path",
                    "signature_version": "s3v4",
                },
            },
        }
    else:
        settings.MEDIA_ROOT = tmp_path / "media"
    return request.param


def _completed(user: str, finished_days_ago: float, reference: bytes | None = None) -> ImageTask:
    task = create_task(user_id=user, prompt="a kept cat")
    if reference is not None:
        default_storage.save(f"uploads/{task.id}/0.png", io.BytesIO(reference))
    images = task_storage.outputs_store(task_id=task.id, attempt=1, images=[GeneratedImage(data=_png())])["images"]
    finished = timezone.now() - timedelta(days=finished_days_ago)
    ImageTask.objects.filter(pk=task.pk).update(status="completed", result={"images": images}, finished_at=finished)
    return ImageTask.objects.get(pk=task.pk)


@pytest.mark.django_db
def test_retention_deletes_old_files_and_their_urls_answer_gone(storage, settings):
    settings.IMAGE_RETENTION_DAYS = 7
    old = _completed("keeper", finished_days_ago=8, reference=_png((1, 2, 3)))
    recent = _completed("keeper", finished_days_ago=6)
    old_names, recent_names = task_storage.task_files(old), task_storage.task_files(recent)
    assert len(old_names) == 2 and all(default_storage.exists(name) for name in old_names + recent_names)
    client = APIClient()
    old_url = client.get(f"/api/v1/ai/image/result/{old.id}").json()["data"]["result"]["image_url"]
    assert client.get(urlsplit(old_url).path).status_code in (200, 302)

    assert services.files_expire() == 1
    assert services.files_expire() == 0  # marked: never looked at again
    assert not any(default_storage.exists(name) for name in old_names)
    assert all(default_storage.exists(name) for name in recent_names)

    answer = client.get(f"/api/v1/ai/image/result/{old.id}").json()["data"]
    assert answer["status"] == "completed"  # the task keeps its record
    assert answer["result"]["expired"] is True and answer["result"]["image_url"] is None
    assert "expired" in answer["result"]["message"]
    gone = client.get(urlsplit(old_url).path)
    assert gone.status_code == 410 and gone.json()["success"] is False
    assert client.get(f"/api/v1/ai/image/result/{recent.id}").json()["data"]["result"]["image_url"]


@pytest.mark.django_db
def test_without_a_retention_period_nothing_is_deleted(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IMAGE_RETENTION_DAYS = None
    task = _completed("keeper", finished_days_ago=3650)
    assert services.files_expire() == 0
    assert all(default_storage.exists(name) for name in task_storage.task_files(task))
