"""The original README's bash + curl + jq client, run unchanged against a live server."""

import io
import re
import subprocess

import pytest
from PIL import Image

pytestmark = pytest.mark.stack


def test_seed_bash_client_reaches_completed_and_the_image_downloads(make_stack, redis_url):
    stack = make_stack(broker_url=redis_url).start()
    done = stack.seed_client()
    assert done.returncode == 0, done.stderr
    assert "状态: completed" in done.stdout, done.stdout
    match = re.search(r"图片生成完成: (\S+)", done.stdout)
    assert match, done.stdout
    image_url = match.group(1)

    downloaded = subprocess.run(["curl", "-sf", image_url], capture_output=True, timeout=30)
    assert downloaded.returncode == 0
    picture = Image.open(io.BytesIO(downloaded.stdout))
    assert (picture.format, picture.size) == ("PNG", (1024, 1024))
    assert picture.info["Description"] == "一只可爱的小猫咪在花园里玩耍"


def test_seed_bash_client_reports_failure_message(make_stack):
    stack = make_stack(env={"LOCAL_PROVIDER_FAILURE_RATE": "1"}).start()
    done = stack.seed_client()
    assert "任务失败: simulated failure of the local provider (LOCAL_PROVIDER_FAILURE_RATE)" in done.stdout, done.stdout


def test_seed_video_client_on_embedded_defaults_downloads_an_mp4(make_stack, tmp_path):
    from tests.mp4 import mp4_facts

    stack = make_stack().start()  # embedded defaults: no Redis, no keys — the local provider draws it
    out = tmp_path / "video.mp4"
    done = stack.seed_client("seed_video_client.sh", OUT=str(out))
    assert done.returncode == 0, done.stderr
    assert "状态: completed" in done.stdout, done.stdout
    assert re.search(r"视频生成完成: \S+/media/videos/\S+\.mp4", done.stdout), done.stdout
    assert f"已下载: {out}" in done.stdout, done.stdout
    facts = mp4_facts(out.read_bytes())
    assert facts["has_avc"] and facts["video_sizes"] == [(1280, 720)], facts
