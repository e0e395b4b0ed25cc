"""A stored file's URL is a capability: its name carries 128 random bits, so no one reaches another
task's file by guessing (task ids made together were once consecutive, and `/media/` only checked
that the task existed). Only a task's current files are served: an upload, or an output of its
result — never an earlier attempt's."""

import re

import pytest
from rest_framework.test import APIClient

from imagetasks import storage
from imagetasks.models import ImageTask, StoredFile
from providers.base import Image
from tests.create import create_task
from tests.drive import drive

pytestmark = pytest.mark.django_db


def _png() -> bytes:
    import io

    from PIL import Image as Picture

    out = io.BytesIO()
    Picture.new("RGB", (8, 8), (200, 10, 10)).save(out, format="PNG")
    return out.getvalue()


def test_names_carry_128_random_bits_and_a_guess_finds_nothing(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    mine, theirs = (create_task(user_id=user, prompt="a cat").id for user in ("alice", "bob"))
    drive(mine)
    drive(theirs)
    client = APIClient()
    url = client.get(f"/api/v1/ai/image/result/{theirs}").json()["data"]["result"]["image_url"]
    name = url.split("/media/", 1)[1]
    token = re.fullmatch(rf"images/{theirs}/1-0-([\w-]+)\.png", name).group(1)
    assert len(token) == 22  # 16 bytes of secrets.token_urlsafe: 128 bits
    assert client.get(f"/media/{name}").status_code == 200
    for guess in (f"images/{theirs}/1-0.png", f"images/{theirs}/1-0-{'A' * 22}.png", f"images/{mine}/1-0-{token}.png"):
        assert client.get(f"/media/{guess}").status_code == 404, guess
    assert StoredFile.objects.filter(task_id=theirs).count() == 1  # recorded, with its task


def test_an_earlier_attempts_outputs_are_neither_kept_nor_served(
    settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = str(tmp_path)
    task = create_task(user_id="alice", prompt="a cat")
    earlier = storage.outputs_store(task_id=task.id, attempt=1, images=[Image(data=_png())])["images"][0]["name"]
    assert (tmp_path / earlier).exists()  # stored by an attempt that then failed (say, at its last frame)
    ImageTask.objects.filter(pk=task.pk).update(attempts=1)
    with django_capture_on_commit_callbacks(execute=True):
        drive(task.id)  # attempt 2 completes
    done = ImageTask.objects.get(pk=task.pk)
    assert done.status == "completed" and earlier not in done.output_names
    assert not (tmp_path / earlier).exists()
    assert APIClient().get(f"/media/{earlier}").status_code == 404
    assert set(StoredFile.objects.filter(task_id=task.id).values_list("name", flat=True)) == set(done.output_names)


def test_a_failed_store_leaves_nothing_behind(settings, tmp_path):
    """An attempt that stored its video and then failed at the last frame keeps neither."""
    from providers.base import UpstreamError, Video
    from providers.videos import mp4_encode

    settings.MEDIA_ROOT = str(tmp_path)
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    from PIL import Image as Picture

    data = mp4_encode([Picture.new("RGB", (64, 64))] * 2, width=64, height=64, fps=2)
    with pytest.raises(UpstreamError, match="not a public address"):
        storage.outputs_store(
            task_id="t1", attempt=1, videos=[Video(data=data, last_frame_url="http://127.0.0.1:9/last.png")]
        )
    assert not list(tmp_path.rglob("*.mp4"))
    assert not StoredFile.objects.filter(task_id="t1").exists()
