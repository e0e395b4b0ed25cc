"""Webhooks: the task JSON POSTed on terminal status, signed, retried while the receiver is down,
every attempt recorded, redelivered on request."""

import json

import pytest
from rest_framework.test import APIClient

from imagetasks import services
from imagetasks.models import ImageTask, WebhookDelivery
from imagetasks.services.webhooks import webhook_deliver, webhook_dispatch, webhook_redeliver
from tests.create import create_task
from tests.drive import drive
from tests.fakes.receiver import WebhookReceiver, signature_valid

pytestmark = pytest.mark.django_db
SECRET = "whsec-test"


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_SECRET = SECRET
    settings.WEBHOOK_BACKOFF_SECONDS = 0.01
    hook = WebhookReceiver()
    yield hook
    hook.stop()


def verify(headers: dict, body: bytes) -> bool:
    return signature_valid(SECRET, headers, body)


def _deliver_all():
    for delivery in WebhookDelivery.objects.filter(status="pending"):
        webhook_deliver(delivery_id=delivery.id)


def test_completed_task_is_posted_signed(receiver, django_capture_on_commit_callbacks):
    task = create_task(user_id="u1", prompt="a cat", webhook_url=receiver.url)
    with django_capture_on_commit_callbacks(execute=False):
        drive(task.id)
    _deliver_all()
    assert len(receiver.received) == 1
    headers, body, _ = receiver.received[0]
    assert verify(headers, body)
    assert headers["X-Jimeng-Event"] == "task.completed"
    payload = json.loads(body)
    assert payload["event"] == "task.completed"
    assert payload["task"]["task_id"] == task.id
    assert payload["task"]["status"] == "completed"
    assert f"/media/images/{task.id}/1-0-" in payload["task"]["result"]["image_url"]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert delivery.attempt_log[0]["status_code"] == 200
    assert not verify({**headers, "X-Jimeng-Signature": "sha256=" + "0" * 64}, body)


def test_receiver_down_then_up(receiver, django_capture_on_commit_callbacks):
    receiver.up = False
    task = create_task(user_id="u1", prompt="a cat", webhook_url=receiver.url)
    with django_capture_on_commit_callbacks(execute=False):
        services.task_cancel(task_id=task.id)
    delivery = WebhookDelivery.objects.get()
    assert webhook_deliver(delivery_id=delivery.id) > 0
    assert webhook_deliver(delivery_id=delivery.id) > 0
    receiver.up = True
    assert webhook_deliver(delivery_id=delivery.id) is None
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert [a["status_code"] for a in delivery.attempt_log] == [503, 503, 200]
    assert delivery.attempt_log[0]["error"] == "answered HTTP 503"
    assert all(verify(h, b) for h, b, _ in receiver.received)
    assert json.loads(receiver.received[-1][1])["event"] == "task.canceled"


def test_gives_up_after_the_window_and_redeliver_sends_again(receiver, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_RETRY_WINDOW_SECONDS = 0
    receiver.up = False
    task = create_task(user_id="u1", prompt="a cat", webhook_url=receiver.url)
    with django_capture_on_commit_callbacks(execute=False):
        services.task_cancel(task_id=task.id)
        delivery = WebhookDelivery.objects.get()
        assert webhook_deliver(delivery_id=delivery.id) is None
        delivery.refresh_from_db()
        assert delivery.status == "failed"
        receiver.up = True
        settings.WEBHOOK_RETRY_WINDOW_SECONDS = 3600
        webhook_redeliver(delivery_id=delivery.id)
    webhook_deliver(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)


def test_a_terminal_event_is_recorded_once(receiver):
    task = create_task(user_id="u1", prompt="a cat", webhook_url=receiver.url)
    ImageTask.objects.filter(pk=task.id).update(status="failed", webhook_due=True)  # as if we crashed right here
    assert webhook_dispatch(task_id=task.id) is not None  # the reconciler's call
    assert webhook_dispatch(task_id=task.id) is None  # and never twice
    assert WebhookDelivery.objects.filter(task=task, event="task.failed").count() == 1


def test_all_events_include_processing(receiver, django_capture_on_commit_callbacks):
    task = create_task(user_id="u1", prompt="a cat", webhook_url=receiver.url, webhook_events="all")
    with django_capture_on_commit_callbacks(execute=False):
        drive(task.id)
    assert list(WebhookDelivery.objects.order_by("created_at").values_list("event", flat=True)) == [
        "task.processing",
        "task.completed",
    ]


def test_webhook_url_needs_a_server_secret_and_a_valid_url(settings):
    client = APIClient()
    body = {"prompt": "a cat", "user_id": "u1", "webhook_url": "https://example.com/hook"}
    settings.WEBHOOK_SECRET = ""
    response = client.post("/api/v1/ai/image/task", body, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "This server sends no webhooks: its operator has not set WEBHOOK_SECRET."
    settings.WEBHOOK_SECRET = SECRET
    response = client.post("/api/v1/ai/image/task", {**body, "webhook_url": "ftp://example.com"}, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "webhook_url: Enter a valid URL."
    assert client.post("/api/v1/ai/image/task", body, format="json").status_code == 202
