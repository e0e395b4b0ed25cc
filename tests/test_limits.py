"""Limits: requests per API key, tasks per user per day, tasks waiting or running per user."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from users.keys import api_key_create
from users.services import user_create

pytestmark = pytest.mark.django_db
BODY = {"prompt": "a cat", "user_id": "alice"}


@pytest.fixture
def alice_key(settings):
    settings.API_KEYS_REQUIRED = True
    cache.clear()
    user_create(user_id="alice", email="alice@example.com")
    return api_key_create(user_id="alice")[1]


def test_rate_limit_per_key(settings, alice_key):
    settings.API_RATE_LIMIT = "3/min"
    client = APIClient()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {alice_key}"}
    assert [client.get("/api/v1/users/alice", **auth).status_code for _ in range(3)] == [200, 200, 200]
    limited = client.get("/api/v1/users/alice", **auth)
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0
    assert limited.json()["message"].startswith("Request was throttled.")
    other = api_key_create(user_id="alice")[1]  # another key has its own budget
    assert client.get("/api/v1/users/alice", HTTP_AUTHORIZATION=f"Bearer {other}").status_code == 200


def test_daily_quota(settings, alice_key):
    settings.USER_DAILY_TASK_QUOTA = 2
    client = APIClient()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {alice_key}"}
    assert [client.post("/api/v1/ai/image/task", BODY, format="json", **auth).status_code for _ in range(2)] == [
        202,
        202,
    ]
    over = client.post("/api/v1/ai/image/task", BODY, format="json", **auth)
    assert over.status_code == 429
    assert over.json()["message"] == "User 'alice' has used today's quota of 2 tasks; it renews at 00:00 UTC."
    assert 0 < int(over["Retry-After"]) <= 86400


def test_max_active_tasks(settings, alice_key):
    settings.USER_MAX_ACTIVE_TASKS = 1
    client = APIClient()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {alice_key}"}
    first = client.post("/api/v1/ai/image/task", BODY, format="json", **auth).json()["data"]["task_id"]
    over = client.post("/api/v1/ai/image/task", BODY, format="json", **auth)
    assert over.status_code == 429
    assert over.json()["message"] == (
        "User 'alice' already has 1 tasks waiting or running; the limit is 1. Try again when some have finished."
    )
    client.post(f"/api/v1/tasks/{first}/cancel", **auth)
    assert client.post("/api/v1/ai/image/task", BODY, format="json", **auth).status_code == 202
