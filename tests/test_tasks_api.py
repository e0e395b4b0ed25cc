"""The task endpoints: create (both forms), poll, detail, a user's list, lookup by external id, cancel, retry."""

import re

import pytest
from rest_framework.test import APIClient

from imagetasks import kinds, services
from imagetasks.models import ImageTask, Status
from tests.drive import drive

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    return APIClient()


SEED_BODY = {
    "prompt": "一只可爱的小猫咪在花园里玩耍",
    "user_id": "user_123",
    "model": "doubao-seedream-3.0-t2i",
    "size": "1024x1024",
    "quality": "standard",
}


def test_create_answers_the_seed_shape(client):
    response = client.post("/api/v1/ai/image/task", SEED_BODY, format="json")
    assert response.status_code == 202
    data = response.json()["data"]
    assert response.json()["success"] is True
    assert data["status"] == "pending"
    assert data["message"] == "任务已创建，正在处理中"
    assert data["provider"] == "local"  # no keys: nobody may mistake the result for a Jimeng image
    assert data["model"] == "doubao-seedream-3-0-t2i-250415"  # the seed's name is an alias
    task = ImageTask.objects.get(pk=data["task_id"])
    assert task.user_id == "user_123"
    assert task.params == {"size": "1024x1024", "width": 1024, "height": 1024, "quality": "standard"}


def test_ids_are_unguessable_and_time_sorted(client):
    ids = [client.post("/api/v1/ai/image/task", SEED_BODY, format="json").json()["data"]["task_id"] for _ in range(5)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5
    assert all(len(i) == 26 for i in ids)


def test_model_options_are_kept(client):
    body = {**SEED_BODY, "model": "jimeng_t2i_v40", "size": "2048x2048", "scale": 0.7, "force_single": True}
    data = client.post("/api/v1/ai/image/task", body, format="json").json()["data"]
    assert ImageTask.objects.get(pk=data["task_id"]).params == {
        "size": "2048x2048",
        "width": 2048,
        "height": 2048,
        "quality": "standard",
        "scale": 0.7,
        "force_single": True,
    }
    body = {**SEED_BODY, "model": "jimeng_seedream46_cvtob", "size": "2048x2048", "scale": 60}
    data = client.post("/api/v1/ai/image/task", body, format="json").json()["data"]
    assert ImageTask.objects.get(pk=data["task_id"]).params["scale"] == 60


def test_generic_form(client):
    response = client.post("/api/v1/ai/tasks", {**SEED_BODY, "type": "image"}, format="json")
    assert response.status_code == 202
    assert response.json()["data"]["status"] == "pending"


def test_defaults_when_model_and_size_are_left_out(client):
    data = client.post("/api/v1/ai/image/task", {"prompt": "x", "user_id": "u1"}, format="json").json()["data"]
    task = ImageTask.objects.get(pk=data["task_id"])
    assert task.model == "doubao-seedream-3-0-t2i-250415"
    assert task.params["size"] == "1024x1024"


def test_poll_messages_follow_the_status(client):
    task_id = client.post("/api/v1/ai/image/task", SEED_BODY, format="json").json()["data"]["task_id"]
    url = f"/api/v1/ai/image/result/{task_id}"
    assert client.get(url).json()["data"] == {
        "task_id": task_id,
        "type": "image",
        "status": "pending",
        "message": "任务排队中，请稍后查询",
        "provider": "local",
        "queue_position": 0,  # every pending task knows its place (the local provider has no cap: starts now)
        "eta_seconds": 0.0,
    }
    services.task_claim(task_id=task_id)
    assert client.get(url).json()["data"]["message"] == "任务处理中，请稍后查询"


def test_completed_result_has_the_image_url(client, settings):
    task_id = client.post(
        "/api/v1/ai/image/task", {**SEED_BODY, "size": "640x512", "model": "jimeng_t2i_v30"}, format="json"
    ).json()["data"]["task_id"]
    drive(task_id)
    data = client.get(f"/api/v1/ai/image/result/{task_id}").json()["data"]
    assert data["status"] == "completed"
    # 1-0: attempt 1, image 0, then 128 random bits: no one guesses another task's file
    assert re.fullmatch(rf"http://testserver/media/images/{task_id}/1-0-[\w-]{{22}}\.png", data["result"]["image_url"])
    assert data["result"]["images"] == [
        {"url": data["result"]["image_url"], "width": 640, "height": 512, "content_type": "image/png", "index": 0}
    ]
    image = client.get(data["result"]["image_url"].removeprefix("http://testserver"))
    assert image.status_code == 200
    assert b"".join(image.streaming_content).startswith(b"\x89PNG")

    settings.PUBLIC_BASE_URL = "https://img.example.com"
    data = client.get(f"/api/v1/ai/image/result/{task_id}").json()["data"]
    assert data["result"]["image_url"].startswith(f"https://img.example.com/media/images/{task_id}/1-0-")


def test_failed_result_says_why(client, settings):
    settings.LOCAL_PROVIDER_FAILURE_RATE = 1.0
    task_id = client.post("/api/v1/ai/image/task", SEED_BODY, format="json").json()["data"]["task_id"]
    drive(task_id)
    data = client.get(f"/api/v1/ai/image/result/{task_id}").json()["data"]
    assert data["status"] == "failed"
    assert data["message"] == "simulated failure of the local provider (LOCAL_PROVIDER_FAILURE_RATE)"
    assert data["error"]["code"] == "local_simulated_failure"
    assert "result" not in data


def test_detail_and_list_and_external_lookup(client):
    first = client.post("/api/v1/ai/image/task", {**SEED_BODY, "external_task_id": "order-1"}, format="json").json()[
        "data"
    ]
    second = client.post("/api/v1/ai/image/task", {**SEED_BODY, "external_task_id": "order-2"}, format="json").json()[
        "data"
    ]
    client.post("/api/v1/ai/image/task", {**SEED_BODY, "user_id": "someone_else"}, format="json")

    detail = client.get(f"/api/v1/tasks/{first['task_id']}").json()["data"]
    assert detail["external_task_id"] == "order-1"
    assert detail["user_id"] == "user_123"
    assert detail["prompt"] == SEED_BODY["prompt"]
    assert detail["attempts"] == 0

    listing = client.get("/api/v1/tasks/user/user_123").json()["data"]
    assert [item["task_id"] for item in listing["items"]] == [second["task_id"], first["task_id"]]
    assert listing["total"] == 2
    assert listing["has_next"] is False

    paged = client.get("/api/v1/tasks/user/user_123?page=2&page_size=1").json()["data"]
    assert [item["task_id"] for item in paged["items"]] == [first["task_id"]]

    assert client.get("/api/v1/tasks/user/user_123?status=completed").json()["data"]["total"] == 0
    found = client.get("/api/v1/tasks/user/user_123/external/order-2").json()["data"]
    assert found["task_id"] == second["task_id"]
    assert client.get("/api/v1/tasks/user/someone_else/external/order-2").status_code == 404


def test_external_id_is_unique_per_user(client):
    client.post("/api/v1/ai/image/task", {**SEED_BODY, "external_task_id": "order-1"}, format="json")
    again = client.post("/api/v1/ai/image/task", {**SEED_BODY, "external_task_id": "order-1"}, format="json")
    assert again.status_code == 409
    assert again.json()["message"] == "User 'user_123' already has a task with external_task_id 'order-1'."
    other_user = client.post(
        "/api/v1/ai/image/task", {**SEED_BODY, "user_id": "u2", "external_task_id": "order-1"}, format="json"
    )
    assert other_user.status_code == 202


def test_cancel_and_retry(client):
    task_id = client.post("/api/v1/ai/image/task", SEED_BODY, format="json").json()["data"]["task_id"]
    canceled = client.post(f"/api/v1/tasks/{task_id}/cancel").json()["data"]
    assert canceled["status"] == "canceled"
    assert canceled["message"] == "任务已取消"
    assert services.task_claim(task_id=task_id) is None  # a late delivery does nothing

    retried = client.post(f"/api/v1/tasks/{task_id}/retry")
    assert retried.status_code == 202
    assert retried.json()["data"]["status"] == "pending"
    drive(task_id)
    assert ImageTask.objects.get(pk=task_id).status == Status.COMPLETED

    cancel_done = client.post(f"/api/v1/tasks/{task_id}/cancel")
    assert cancel_done.status_code == 409
    assert cancel_done.json()["message"] == f"Task {task_id} is already completed and cannot be canceled."
    retry_done = client.post(f"/api/v1/tasks/{task_id}/retry")
    assert retry_done.status_code == 409
    assert retry_done.json()["message"] == f"Task {task_id} is completed; only failed or canceled tasks can be retried."


def test_models_health_schema_docs(client):
    models = client.get("/api/v1/ai/models").json()["data"]
    ids = [model["id"] for model in models["models"]]
    assert {"jimeng_t2i_v30", "jimeng_t2i_v40", "doubao-seedream-3-0-t2i-250415"} <= set(ids)
    v40 = next(model for model in models["models"] if model["id"] == "jimeng_t2i_v40")
    assert v40["reference_images"] == {"min": 0, "max": 10}
    assert v40["runs_on"] == "local"

    health = client.get("/health").json()
    assert health["success"] is True
    assert health["data"]["local_mode"] is True
    upstreams = sorted({spec.provider for spec in kinds.catalog()})
    assert health["data"]["providers"] == dict.fromkeys(upstreams, "local placeholder")
    assert health["data"]["broker"] == "filesystem"

    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/ai/image/task" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"cdn.jsdelivr" not in docs.content  # served locally, works offline
