"""Idempotency-Key on the create endpoints: a repeated request returns the original task."""

import pytest
from rest_framework.test import APIClient

from imagetasks.models import IdempotencyKey, ImageTask

pytestmark = pytest.mark.django_db
BODY = {"prompt": "a cat", "user_id": "user_123", "size": "1024x1024"}


@pytest.fixture
def client():
    return APIClient()


@pytest.mark.parametrize("url", ["/api/v1/ai/image/task", "/api/v1/ai/tasks"])
def test_same_key_same_body_returns_the_original_task(client, url):
    first = client.post(url, BODY, format="json", HTTP_IDEMPOTENCY_KEY="req-1")
    again = client.post(url, BODY, format="json", HTTP_IDEMPOTENCY_KEY="req-1")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["data"]["task_id"] == first.json()["data"]["task_id"]
    assert again.json()["data"]["status"] == "pending"
    assert ImageTask.objects.count() == 1


def test_same_key_other_body_is_a_conflict(client):
    client.post("/api/v1/ai/image/task", BODY, format="json", HTTP_IDEMPOTENCY_KEY="req-1")
    other = client.post(
        "/api/v1/ai/image/task", {**BODY, "prompt": "a dog"}, format="json", HTTP_IDEMPOTENCY_KEY="req-1"
    )
    assert other.status_code == 409
    assert other.json() == {
        "success": False,
        "message": "Idempotency-Key 'req-1' was already used with a different request body.",
    }
    assert ImageTask.objects.count() == 1


def test_without_or_with_different_keys_tasks_are_new(client):
    for key in (None, None, "a", "b"):
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        assert client.post("/api/v1/ai/image/task", BODY, format="json", **headers).status_code == 202
    assert ImageTask.objects.count() == 4


def test_a_rejected_request_leaves_its_key_free(client):
    bad = client.post("/api/v1/ai/image/task", {**BODY, "model": "nope"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert bad.status_code == 400
    assert IdempotencyKey.objects.count() == 0
    client.post("/api/v1/ai/image/task", {**BODY, "external_task_id": "e1"}, format="json")
    conflict = client.post(
        "/api/v1/ai/image/task", {**BODY, "external_task_id": "e1"}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert conflict.status_code == 409
    assert IdempotencyKey.objects.count() == 0  # nothing was created under it
    good = client.post("/api/v1/ai/image/task", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert good.status_code == 202


def test_the_key_is_kept_in_the_database(client):
    """Survives restarts: the key is a row, not process memory."""
    first = client.post("/api/v1/ai/image/task", BODY, format="json", HTTP_IDEMPOTENCY_KEY="req-9")
    record = IdempotencyKey.objects.get()
    assert record.key == "req-9" and record.task_id == first.json()["data"]["task_id"]
    assert "req-9" not in record.pk  # stored under its hash


def test_overlong_key(client):
    response = client.post("/api/v1/ai/image/task", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k" * 256)
    assert response.status_code == 400
    assert response.json()["message"] == "Idempotency-Key may be at most 255 characters."
