"""Webhooks never slow generation: deliveries run on their own queue and pool, one deadline bounds an
attempt, a receiver host gets a bounded number at once, a large answer is still a delivery, and a
delivery whose first message was lost is still sent."""

import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from imagetasks import services
from imagetasks.models import WebhookDelivery
from imagetasks.services.webhooks import host_slots, webhook_deliver, webhooks_reconcile
from tests.create import create_task
from tests.drive import drive
from tests.fakes.receiver import TrickleReceiver, WebhookReceiver

SECRET = "whsec-isolation"


@pytest.mark.stack
def test_a_trickling_receiver_does_not_hold_other_users_generations(make_stack, redis_url):
    slow = TrickleReceiver(every=1.0)
    stack = make_stack(
        broker_url=redis_url,
        env={
            "WEBHOOK_SECRET": SECRET,
            "WEBHOOK_TIMEOUT_SECONDS": "3",
            "WEBHOOK_MAX_IN_FLIGHT_PER_HOST": "2",
            "WEBHOOK_BACKOFF_SECONDS": "1",
        },
    ).start(webhook_worker=True)
    try:
        noisy = [
            stack.create_task(prompt=f"noisy {n}", user_id="noisy", webhook_url=slow.url, webhook_events="all")
            for n in range(6)
        ]
        time.sleep(1)  # the noisy user's deliveries are under way
        quiet = [stack.create_task(prompt=f"quiet {n}", user_id="quiet") for n in range(6)]
        # With deliveries in the generation workers, each trickling delivery would hold one for good.
        results = [stack.wait_terminal(task_id, timeout=30) for task_id in quiet]
        for task_id in noisy:
            stack.wait_terminal(task_id, timeout=20)
    finally:
        slow.stop()
    assert [r["status"] for r in results] == ["completed"] * 6
    assert slow.requests >= 2  # deliveries were attempted ...
    assert slow.peak <= 2  # ... never more than the per-host bound at once


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_SECRET = SECRET
    hook = WebhookReceiver()
    yield hook
    hook.stop()


@pytest.mark.django_db
def test_a_delivery_whose_first_message_was_lost_is_still_sent(
    receiver, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr("imagetasks.services.scheduling.send", lambda name, args, **kw: sent.append(args[0]))
    task = create_task(user_id="u1", prompt="a cat", webhook_url=receiver.url)
    with django_capture_on_commit_callbacks(execute=False):
        drive(task.id)
    sent.clear()  # the message that was to send it is lost (on MongoDB it went out at once)
    delivery = WebhookDelivery.objects.get()
    assert delivery.attempts == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks_reconcile(timezone.now() - timedelta(seconds=60)) == 0  # not overdue yet
        assert webhooks_reconcile(timezone.now() + timedelta(seconds=1)) == 1
    assert sent == [delivery.id]
    assert webhook_deliver(delivery_id=delivery.id) is None
    delivery.refresh_from_db()
    assert delivery.status == "delivered"


@pytest.mark.django_db
def test_a_busy_receiver_host_is_not_tried_beyond_its_bound(receiver, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_MAX_IN_FLIGHT_PER_HOST = 1
    task = create_task(user_id="u1", prompt="a cat", webhook_url=receiver.url)
    with django_capture_on_commit_callbacks(execute=False):
        services.task_cancel(task_id=task.id)
    delivery = WebhookDelivery.objects.get()
    assert host_slots.acquire("127.0.0.1", "another-delivery")  # one in flight to that host already
    try:
        delay = webhook_deliver(delivery_id=delivery.id)
    finally:
        host_slots.release("127.0.0.1", "another-delivery")
    assert delay is not None and delay > 0
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, receiver.received) == ("pending", 0, [])
    assert webhook_deliver(delivery_id=delivery.id) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(receiver.received)) == ("delivered", 1, 1)


class _LargeAnswer(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(2 * 1024 * 1024))
        self.end_headers()
        try:
            self.wfile.write(b"z" * 2 * 1024 * 1024)
        except OSError:
            pass


@pytest.mark.django_db
def test_a_large_2xx_answer_counts_as_delivered(settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_SECRET = SECRET
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LargeAnswer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        task = create_task(user_id="u1", prompt="a cat", webhook_url=url)
        with django_capture_on_commit_callbacks(execute=False):
            services.task_cancel(task_id=task.id)
        delivery = WebhookDelivery.objects.get()
        assert webhook_deliver(delivery_id=delivery.id) is None
    finally:
        server.shutdown()
        server.server_close()
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert delivery.attempt_log[0]["status_code"] == 200
