"""Who may mint keys; what deleting a user takes with it; how images are cached; idempotency keys
that expire and claims that lapse."""

import io
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image as PILImage
from rest_framework.test import APIClient

from imagetasks import services
from imagetasks.models import IdempotencyKey, ImageTask
from imagetasks.storage import task_files
from tests.drive import drive
from users.keys import api_key_create, api_key_revoke
from users.models import UsageCounter
from users.services import user_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def keyed(settings):
    settings.API_KEYS_REQUIRED = True
    settings.API_RATE_LIMIT = ""
    user_create(user_id="alice", email="alice@example.com")
    alice_key, alice_secret = api_key_create(user_id="alice")
    service = api_key_create(user_id=None, name="backend")[1]
    return {"alice": alice_secret, "alice_id": alice_key.pk, "service": service}


def test_a_user_key_cannot_mint_keys_so_none_outlives_its_minter(keyed):
    alice = APIClient(HTTP_AUTHORIZATION=f"Bearer {keyed['alice']}")
    for body in ({"user_id": "alice"}, {}):
        minted = alice.post("/api/v1/keys", body, format="json")
        assert minted.status_code == 403
        assert minted.json() == {
            "success": False,
            "message": "Only service keys (or operators, in the admin) may make API keys.",
        }
    service = APIClient(HTTP_AUTHORIZATION=f"Bearer {keyed['service']}")
    made = service.post("/api/v1/keys", {"user_id": "alice"}, format="json")
    assert made.status_code == 201
    api_key_revoke(key_id=keyed["alice_id"])
    assert alice.get("/api/v1/users/alice").status_code == 401
    assert (
        APIClient(HTTP_AUTHORIZATION=f"Bearer {made.json()['data']['key']}").get("/api/v1/users/alice").status_code
        == 200
    )


def _png() -> io.BytesIO:
    buffer = io.BytesIO()
    PILImage.new("RGB", (64, 64), "red").save(buffer, "PNG")
    buffer.seek(0)
    buffer.name = "ref.png"
    return buffer


def test_deleting_a_user_deletes_their_images_uploads_and_idempotency_keys(
    keyed, settings, django_capture_on_commit_callbacks
):
    settings.OPENAI_WAIT_SECONDS = 0
    service = APIClient(HTTP_AUTHORIZATION=f"Bearer {keyed['service']}")
    created = service.post(
        "/api/v1/ai/image/task", {"prompt": "a cat", "user_id": "alice"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    task_id = created.json()["data"]["task_id"]
    drive(task_id)
    edit = service.post("/v1/images/edits", {"prompt": "the same, in blue", "user": "alice", "image": _png()})
    assert edit.status_code == 202, edit.content
    edit_task = ImageTask.objects.get(pk=edit.json()["task_id"])
    names = task_files(ImageTask.objects.get(pk=task_id)) + task_files(edit_task)
    assert len(names) == 2 and all(default_storage.exists(name) for name in names)
    assert names[1].startswith(f"uploads/{edit_task.id}/")
    image_path = "/media/" + names[0]
    image = service.get(image_path)
    assert image.status_code == 200
    assert image["Cache-Control"].startswith("private")
    assert IdempotencyKey.objects.filter(user_id="alice").count() == 1
    assert UsageCounter.objects.filter(key__contains="|alice").exists()  # active tasks, today's count

    with django_capture_on_commit_callbacks(execute=True):  # the files go once the rows are gone
        assert service.delete("/api/v1/users/alice").status_code == 200
    assert not any(default_storage.exists(name) for name in names)
    assert service.get(image_path).status_code == 404
    assert service.get("/media/" + names[1]).status_code == 404
    assert IdempotencyKey.objects.filter(user_id="alice").count() == 0
    assert not UsageCounter.objects.filter(key__contains="|alice").exists()
    assert not ImageTask.objects.filter(user_id="alice").exists()


def _claim_body():
    return {"prompt": "a cat", "user_id": "u1"}


def test_a_claim_whose_request_died_is_taken_over_after_its_lease(settings):
    settings.IDEMPOTENCY_CLAIM_SECONDS = 30
    client = APIClient()
    first = client.post("/api/v1/ai/image/task", _claim_body(), format="json", HTTP_IDEMPOTENCY_KEY="died")
    task_id = first.json()["data"]["task_id"]
    # The request that held the key died after claiming it and before its task was written.
    ImageTask.objects.filter(pk=task_id).delete()
    busy = client.post("/api/v1/ai/image/task", _claim_body(), format="json", HTTP_IDEMPOTENCY_KEY="died")
    assert busy.status_code == 409
    assert "is still being processed; retry in" in busy.json()["message"]
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(seconds=31))
    again = client.post("/api/v1/ai/image/task", _claim_body(), format="json", HTTP_IDEMPOTENCY_KEY="died")
    assert again.status_code == 202
    assert ImageTask.objects.filter(pk=again.json()["data"]["task_id"]).exists()


def test_keys_expire_after_their_ttl_and_the_clean_up_removes_them(settings):
    settings.IDEMPOTENCY_KEY_TTL_HOURS = 24
    client = APIClient()
    first = client.post("/api/v1/ai/image/task", _claim_body(), format="json", HTTP_IDEMPOTENCY_KEY="old")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    # Past its TTL the key is forgotten: another body with it is a new task, not a conflict.
    other = client.post(
        "/api/v1/ai/image/task", {**_claim_body(), "prompt": "a dog"}, format="json", HTTP_IDEMPOTENCY_KEY="old"
    )
    assert other.status_code == 202
    assert other.json()["data"]["task_id"] != first.json()["data"]["task_id"]
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert services.records_expired_delete()["idempotency_keys"] == 1
    assert IdempotencyKey.objects.count() == 0
