"""Seedream sets (group generation, `n` images from one generation) against the fake Ark: each image is
kept the moment its stream event arrives, shown while the task runs (polls, `image` events), a failed
item is listed and not charged, and the reference rules (≤ 14, references + images ≤ 15) hold."""

import json
import threading

import pytest
import requests

from tests.conftest import upstream_env
from tests.fakes.receiver import WebhookReceiver, signature_valid
from tests.fakes.upstream import Fault
from tests.stack import wait_for

pytestmark = pytest.mark.stack

SEEDREAM_4 = "doubao-seedream-4-0-250828"


def _events(stack, task_id: str) -> list[tuple[str, str, dict]]:
    """(id, event, data) of a task's event stream, until it ends."""
    out, ident, name = [], "", ""
    with requests.get(
        stack.url(f"/api/v1/tasks/{task_id}/events"),
        headers={"Accept": "text/event-stream"},
        stream=True,
        timeout=60,
    ) as answer:
        for raw in answer.iter_lines():
            line = raw.decode()
            if line.startswith("id: "):
                ident = line[4:]
            elif line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                out.append((ident, name, json.loads(line[6:])))
                if name == "end":
                    break
                ident = ""
    return out


def _credits(stack, user: str, balance: int) -> None:
    created = stack.session.post(stack.url("/api/v1/users"), json={"id": user, "email": f"{user}@example.com"})
    assert created.status_code == 201, created.text
    put = stack.session.put(stack.url(f"/api/v1/users/{user}/credits"), json={"balance": balance}, timeout=10)
    assert put.status_code == 200, put.text


def _balance(stack, user: str) -> dict:
    data = stack.session.get(stack.url(f"/api/v1/users/{user}"), timeout=10).json()["data"]
    return {"balance": data["credits"], "reserved": data["credits_reserved"]}


def _settled(stack, user: str) -> dict:
    """The balance once the ended task's reservation is settled (just after its status changes)."""
    return wait_for(lambda: (b := _balance(stack, user))["reserved"] == 0 and b, timeout=30, what="settled credits")


def test_a_set_of_four_arrives_image_by_image_and_is_charged_per_image(make_stack, fake_upstream):
    fake_upstream.config.latency = 4.0  # one image a second, streamed
    stack = make_stack(env=upstream_env(fake_upstream)).start()
    _credits(stack, "set-buyer", 10)
    task_id = stack.create_task(
        prompt="a storyboard of four panels: a fox finds a lantern",
        model=SEEDREAM_4,
        size="1280x720",
        n=4,
        user_id="set-buyer",
    )
    streamed: list = []
    reader = threading.Thread(target=lambda: streamed.extend(_events(stack, task_id)))
    reader.start()

    seen_while_running, reserved_while_running = set(), set()
    while (data := stack.result(task_id))["status"] not in ("completed", "failed", "canceled"):
        if data["status"] == "processing" and "result" in data:
            images = data["result"]["images"]
            seen_while_running.add(len(images))
            assert [image["index"] for image in images] == list(range(len(images)))  # in the set's order
            assert all(requests.get(image["url"], timeout=10).status_code == 200 for image in images)
            reserved_while_running.add(_balance(stack, "set-buyer")["reserved"])
    reader.join(30)

    assert data["status"] == "completed", data
    result = data["result"]
    assert [image["index"] for image in result["images"]] == [0, 1, 2, 3]
    assert (result["requested"], result["count"], result["partial"], result["errors"]) == (4, 4, False, [])
    assert {image["width"] for image in result["images"]} == {1280}
    assert seen_while_running & {1, 2, 3}, seen_while_running  # a poll showed the set growing
    assert 4 in reserved_while_running  # n x price held while it runs
    assert _settled(stack, "set-buyer") == {"balance": 6, "reserved": 0}  # 4 delivered, 4 charged
    assert fake_upstream.state.submissions["a storyboard of four panels: a fox finds a lantern"] == 1

    names = [name for _, name, _ in streamed]
    assert names.count("image") == 4 and names.index("image") < names.index("status", names.index("image"))
    images = [(ident, data["image"]["index"]) for ident, name, data in streamed if name == "image"]
    assert images == [("2.1", 0), ("2.2", 1), ("2.3", 2), ("2.4", 3)]
    last_status = [data["status"] for _, name, data in streamed if name == "status"][-1]
    assert last_status == "completed" and names[-2:] == ["status", "end"]  # every image before the end


def test_a_failed_item_is_listed_and_not_charged(make_stack, fake_upstream):
    fake_upstream.config.latency = 0.4
    fake_upstream.config.faults = [
        Fault(api="ark_item", code="OutputImageSensitiveContentDetected", times=1, prompt_contains="moderated")
    ]
    stack = make_stack(env=upstream_env(fake_upstream)).start()
    _credits(stack, "item-buyer", 10)
    task_id = stack.create_task(
        prompt="a moderated series", model=SEEDREAM_4, size="1280x720", n=4, user_id="item-buyer"
    )
    data = stack.wait_terminal(task_id)
    assert data["status"] == "completed", data
    result = data["result"]
    assert (result["count"], result["partial"]) == (3, True)
    [error] = result["errors"]
    assert error["index"] == 0 and error["code"] == "OutputImageSensitiveContentDetected"
    assert "moderation" in error["message"]
    assert [image["index"] for image in result["images"]] == [1, 2, 3]
    assert _settled(stack, "item-buyer") == {"balance": 7, "reserved": 0}  # 3 charged


def test_a_set_with_every_item_failed_fails_and_costs_nothing(make_stack, fake_upstream):
    fake_upstream.config.latency = 0.2
    fake_upstream.config.faults = [
        Fault(api="ark_item", code="OutputImageSensitiveContentDetected", prompt_contains="refused")
    ]
    # Output moderation is tried again (another generation may pass): one attempt here, to see the end.
    stack = make_stack(env=upstream_env(fake_upstream) | {"TASK_MAX_ATTEMPTS": "1"}).start()
    _credits(stack, "none-buyer", 5)
    task_id = stack.create_task(prompt="all refused", model=SEEDREAM_4, size="1280x720", n=2, user_id="none-buyer")
    data = stack.wait_terminal(task_id)
    assert data["status"] == "failed" and data["error"]["code"] == "OutputImageSensitiveContentDetected", data
    assert _settled(stack, "none-buyer") == {"balance": 5, "reserved": 0}


def test_fourteen_references_are_sent_in_order_and_fifteen_are_refused_with_the_rule(make_stack, fake_upstream):
    fake_upstream.config.latency = 0.2
    stack = make_stack(env=upstream_env(fake_upstream)).start()
    references = [f"{fake_upstream.url}/images/ref/512x512/{n}.png" for n in range(15)]

    def create(**body):
        body = {"user_id": "user_123", "prompt": "keep this face", "model": SEEDREAM_4, "size": "1280x720"} | body
        return stack.session.post(stack.url("/api/v1/ai/image/task"), json=body, timeout=10)

    accepted = create(image_urls=references[:14])
    assert accepted.status_code == 202, accepted.text
    assert stack.wait_terminal(accepted.json()["data"]["task_id"])["status"] == "completed"
    assert fake_upstream.state.last_ark_body["image"] == references[:14]  # in the order given

    too_many = create(image_urls=references)
    assert too_many.status_code == 400 and too_many.json()["success"] is False
    assert "at most 14 reference images" in too_many.json()["message"]

    crowded = create(image_urls=references[:12], n=4)
    assert crowded.status_code == 400
    assert "reference images and generated images together are at most 15" in crowded.json()["message"]
    assert create(image_urls=references[:12], n=3).status_code == 202  # 12 + 3 = 15: room for it

    older = create(model="doubao-seedream-3-0-t2i-250415", n=2, size="1024x1024")
    assert older.status_code == 400 and "makes at most 1 image(s) per task" in older.json()["message"]


FAST = {
    "RECONCILE_INTERVAL_SECONDS": "1",
    "TASK_REQUEUE_AFTER_SECONDS": "3",
    "TASK_LEASE_SECONDS": "10",  # above the time between two images: each one kept extends it
}


def test_a_worker_killed_mid_stream_loses_no_kept_image_and_pays_once(make_stack, redis_url, fake_upstream):
    """The stream dies with the worker, for good: the set completes with the images kept before the
    kill (partial), each charged once, and none is generated again."""
    fake_upstream.config.latency = 8.0  # two seconds an image
    stack = make_stack(broker_url=redis_url, env=upstream_env(fake_upstream) | FAST).start(beat=True)
    _credits(stack, "crash-buyer", 10)
    prompt = "four seasons of one tree"
    task_id = stack.create_task(prompt=prompt, model=SEEDREAM_4, size="1280x720", n=4, user_id="crash-buyer")

    seen = []

    def kept() -> list:
        data = stack.result(task_id)
        seen.append((data["status"], len(data.get("result", {}).get("images", []))))
        return data.get("result", {}).get("images", []) if data["status"] == "processing" else []

    try:
        before = wait_for(kept, timeout=30, interval=0.05, what="a kept image")
    except TimeoutError:
        pytest.fail(f"no image seen while processing: {sorted(set(seen))}\n{stack.log('worker_io')[-3000:]}")
    stack.kill_group("worker_io")  # mid-stream (a synchronous upstream runs on the I/O queue's workers)
    stack.start_worker("worker_io2", pool="threads", concurrency=8, queue="imagetasks-io")
    data = stack.wait_terminal(task_id, timeout=60)

    assert data["status"] == "completed", data
    result = data["result"]
    assert result["requested"] == 4 and 1 <= result["count"] <= 4  # (a kill after the last image: all 4)
    assert result["partial"] is (result["count"] < 4)
    kept_urls = [image["url"] for image in before]
    assert [image["url"] for image in result["images"]][: len(kept_urls)] == kept_urls  # nothing kept was lost
    assert all(requests.get(url, timeout=10).status_code == 200 for url in kept_urls)
    assert fake_upstream.state.submissions[prompt] == 1  # never generated again
    assert _settled(stack, "crash-buyer") == {"balance": 10 - result["count"], "reserved": 0}


def test_the_local_provider_draws_a_set_image_by_image_and_a_webhook_hears_each(make_stack):
    receiver = WebhookReceiver()
    env = {
        "LOCAL_PROVIDER_LATENCY_SECONDS": "2",
        "WEBHOOK_SECRET": "whsec-sets",
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
    }
    stack = make_stack(env=env).start(webhook_worker=True)
    task_id = stack.create_task(
        prompt="三个 lanterns", model=SEEDREAM_4, size="1280x720", n=3, webhook_url=receiver.url, webhook_events="all"
    )
    streamed = _events(stack, task_id)
    names = [name for _, name, _ in streamed]
    assert names.count("image") == 3 and names[-2:] == ["status", "end"], names
    first_image = names.index("image")
    assert [data["status"] for _, name, data in streamed[:first_image] if name == "status"][-1] == "processing"
    result = stack.result(task_id)["result"]
    assert (result["count"], result["partial"]) == (3, False)
    assert len({requests.get(image["url"], timeout=10).content for image in result["images"]}) == 3

    def heard() -> list:
        events = [json.loads(body) for _, body in receiver.accepted()]
        return events if any(event["event"] == "task.completed" for event in events) else None

    events = wait_for(heard, timeout=30)
    receiver.stop()
    assert all(signature_valid("whsec-sets", headers, body) for headers, body in receiver.accepted())
    images = [event for event in events if event["event"] == "task.image"]
    assert sorted(event["image"]["index"] for event in images) == [0, 1, 2]
    assert {event["image"]["url"] for event in images} == {image["url"] for image in result["images"]}
    assert all(event["task"]["status"] == "processing" for event in images)
