"""Create → poll → completed → the image downloads, through real web and worker processes, on a real
Redis broker and on the serverless filesystem broker."""

import io
import os

import pytest
from PIL import Image

pytestmark = pytest.mark.stack


def _assert_round_trip(stack):
    # The stack runs on the database this suite runs on (SQLite, or MongoDB's wire protocol).
    engine = stack.session.get(stack.url("/health"), timeout=10).json()["data"]["database"]["engine"]
    assert engine == ("mongodb" if os.environ.get("MONGODB_URI") else "sqlite")
    prompt = "一只可爱的小猫咪在花园里玩耍"
    task_id = stack.create_task(prompt=prompt, model="doubao-seedream-3.0-t2i", size="800x600", seed=7)
    data = stack.wait_terminal(task_id)
    assert data["status"] == "completed", data
    assert data["provider"] == "local"
    image_url = data["result"]["image_url"]
    assert image_url.startswith(stack.base_url + "/media/images/")

    response = stack.session.get(image_url, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    picture = Image.open(io.BytesIO(response.content))
    assert picture.format == "PNG"
    assert picture.size == (800, 600)
    assert picture.info["Description"] == prompt
    assert picture.info["Seed"] == "7"

    detail = stack.session.get(stack.url(f"/api/v1/tasks/{task_id}"), timeout=10).json()["data"]
    assert detail["attempts"] == 1
    assert detail["started_at"] and detail["finished_at"]
    assert detail["params"]["size"] == "800x600"


def test_round_trip_on_redis(make_stack, redis_url):
    stack = make_stack(broker_url=redis_url).start()
    _assert_round_trip(stack)


def test_round_trip_on_filesystem_broker(make_stack):
    stack = make_stack(broker_url="filesystem://").start()
    _assert_round_trip(stack)


def test_many_tasks_all_complete_once(make_stack, redis_url):
    stack = make_stack(broker_url=redis_url, env={"LOCAL_PROVIDER_LATENCY_SECONDS": "0"}).start()
    ids = [stack.create_task(prompt=f"tile {n}", size="512x512", external_task_id=f"ext-{n}") for n in range(20)]
    results = [stack.wait_terminal(task_id) for task_id in ids]
    assert [r["status"] for r in results] == ["completed"] * 20
    listing = stack.session.get(stack.url("/api/v1/tasks/user/user_123?page_size=100"), timeout=10).json()["data"]
    assert listing["total"] == 20
    assert all(item["attempts"] == 1 for item in listing["items"])
    found = stack.session.get(stack.url("/api/v1/tasks/user/user_123/external/ext-3"), timeout=10).json()["data"]
    assert found["task_id"] == ids[3]
