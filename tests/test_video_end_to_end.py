"""Video tasks through real web and worker processes against the fake upstream: Jimeng text- and
image-to-video (visual API, V4-signed) and Seedance text- and image-to-video (Ark tasks); each stored
MP4 is parsed box by box. Moderation fails a video at once, throttling is retried, and canceling a
Seedance task still queued reaches the upstream."""

import pytest

from tests.conftest import skip_on_ferretdb, upstream_env
from tests.fakes.upstream import Fault
from tests.mp4 import mp4_facts
from tests.stack import wait_for

pytestmark = pytest.mark.stack

CAT = "https://example.com/cat.png"
DOG = "https://example.com/dog.png"


def _detail(stack, task_id: str) -> dict:
    return stack.session.get(stack.url(f"/api/v1/tasks/{task_id}"), timeout=10).json()["data"]


def _video_result(stack, task_id: str) -> dict:
    data = stack.session.get(stack.url(f"/api/v1/ai/video/result/{task_id}"), timeout=10).json()["data"]
    assert data["type"] == "video"
    return data


def _stored_mp4(stack, video: dict) -> dict:
    assert video["url"].startswith(stack.base_url + "/media/videos/")  # ours, not the upstream's
    assert video["content_type"] == "video/mp4"
    answer = stack.session.get(video["url"], timeout=30)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "video/mp4"
    facts = mp4_facts(answer.content)
    assert facts["has_avc"] and facts["video_sizes"] == [(video["width"], video["height"])], facts
    return facts


def test_each_video_family_completes_against_the_fake(make_stack, redis_url, fake_upstream):
    stack = make_stack(broker_url=redis_url, env=upstream_env(fake_upstream)).start(io_worker=True)
    cases = {
        "jimeng t2v": {"model": "jimeng_t2v_v30", "duration": 10, "aspect_ratio": "9:16"},
        "jimeng i2v": {"model": "jimeng_i2v_first_v30", "image_urls": [CAT]},
        "jimeng first+last, picked by count": {"model": "jimeng_v30", "image_urls": [CAT, DOG]},
        "seedance t2v": {
            "model": "doubao-seedance-1-0-pro-250528",
            "duration": 3,
            "aspect_ratio": "1:1",
            "resolution": "480p",
            "seed": 42,
            "return_last_frame": True,
        },
        "seedance i2v": {"model": "seedance-1.0-lite-i2v", "image_urls": [CAT, DOG], "resolution": "720p"},
    }
    tasks = {name: stack.create_video(prompt=f"一只猫在跳舞 ({name})", **body) for name, body in cases.items()}
    results = {}
    for name, task_id in tasks.items():
        data = stack.wait_terminal(task_id)
        assert data["status"] == "completed", (name, data)
        results[name] = _video_result(stack, task_id)["result"]
        video = results[name]["videos"][0]
        assert results[name]["video_url"] == video["url"]
        _stored_mp4(stack, video)

    jimeng_t2v = results["jimeng t2v"]["videos"][0]
    assert (jimeng_t2v["width"], jimeng_t2v["height"], jimeng_t2v["duration"]) == (720, 1280, 10.0)
    seedance = results["seedance t2v"]
    assert (seedance["videos"][0]["width"], seedance["videos"][0]["height"]) == (480, 480)
    frame = stack.session.get(seedance["last_frame_url"], timeout=10)
    assert frame.status_code == 200 and frame.content.startswith(b"\x89PNG")
    assert "last_frame_url" not in results["jimeng i2v"]

    # What the upstream was asked, per protocol.
    sent = {task.prompt.split("(")[1].rstrip(")"): task for task in fake_upstream.state.tasks.values()}
    assert sent["jimeng t2v"].body["frames"] == 241 and sent["jimeng t2v"].body["aspect_ratio"] == "9:16"
    assert sent["jimeng i2v"].body["image_urls"] == [CAT] and "aspect_ratio" not in sent["jimeng i2v"].body
    assert sent["jimeng first+last, picked by count"].req_key == "jimeng_i2v_first_tail_v30"
    body = sent["seedance t2v"].body
    assert (body["duration"], body["ratio"], body["resolution"], body["seed"]) == (3, "1:1", "480p", 42)
    assert body["return_last_frame"] is True and body["content"] == [
        {"type": "text", "text": body["content"][0]["text"]}
    ]
    roles = [item.get("role") for item in sent["seedance i2v"].body["content"][1:]]
    assert roles == ["first_frame", "last_frame"] and sent["seedance i2v"].body["ratio"] == "adaptive"
    details = {name: _detail(stack, task_id) for name, task_id in tasks.items()}
    assert details["seedance t2v"]["upstream_task_id"].startswith("cgt-")
    assert details["seedance t2v"]["provider"] == "seedance" and details["jimeng t2v"]["provider"] == "jimeng"
    state = fake_upstream.state.snapshot()
    assert state["signature_failures"] == 0 and state["total_submissions"] == len(cases)  # each once

    listed = stack.session.get(stack.url("/api/v1/tasks/user/user_123?type=video"), timeout=10).json()["data"]
    assert listed["total"] == len(cases) and {item["type"] for item in listed["items"]} == {"video"}


@skip_on_ferretdb("atomic single-document updates: two concurrent claims of one task can both succeed")
def test_moderation_fails_a_video_at_once_and_throttling_is_retried(make_stack, fake_upstream):
    fake_upstream.config.faults = [
        Fault(api="submit", kind="code", code=50412, prompt_contains="forbidden"),
        Fault(api="seedance", kind="code", code="InputTextSensitiveContentDetected", prompt_contains="forbidden"),
        Fault(api="submit", kind="code", code=50430, prompt_contains="busy", times=1),
        Fault(
            api="seedance", kind="code", code="RateLimitExceeded.EndpointRPMExceeded", prompt_contains="busy", times=2
        ),
        Fault(
            api="seedance_result",
            kind="code",
            code="OutputVideoSensitiveContentDetected",
            prompt_contains="redo",
            times=1,
        ),
    ]
    stack = make_stack(env=upstream_env(fake_upstream) | {"TASK_RETRY_BACKOFF_SECONDS": "0.2"}).start()
    seedance = "doubao-seedance-1-0-lite-t2v-250428"
    rejected = {
        "jimeng": stack.create_video(prompt="forbidden words", model="jimeng_t2v_v30"),
        "seedance": stack.create_video(prompt="forbidden words", model=seedance),
    }
    throttled = {
        "jimeng": stack.create_video(prompt="busy hour, jimeng", model="jimeng_t2v_v30"),
        "seedance": stack.create_video(prompt="busy hour, seedance", model=seedance),
    }
    regenerated = stack.create_video(prompt="redo the output", model=seedance)
    messages = {
        "jimeng": "prompt rejected by content moderation (50412)",
        "seedance": "prompt rejected by content moderation (InputTextSensitiveContentDetected)",
    }
    for family, task_id in rejected.items():
        data = stack.wait_terminal(task_id)
        assert (data["status"], data["message"]) == ("failed", messages[family])
        assert _detail(stack, task_id)["attempts"] == 1
    for family, task_id in throttled.items():
        assert stack.wait_terminal(task_id)["status"] == "completed", family
        assert _detail(stack, task_id)["attempts"] == {"jimeng": 2, "seedance": 3}[family]
    # A generated video refused by moderation is generated again (a new upstream task).
    assert stack.wait_terminal(regenerated)["status"] == "completed"
    detail = _detail(stack, regenerated)
    assert detail["attempts"] == 2
    submissions = fake_upstream.state.snapshot()["submissions"]
    assert submissions == {"busy hour, jimeng": 1, "busy hour, seedance": 1, "redo the output": 2}


def test_cancel_of_a_queued_seedance_task_reaches_ark(make_stack, fake_upstream):
    fake_upstream.config.latency = 60
    fake_upstream.config.in_queue_share = 1.0  # queued at Ark all along
    stack = make_stack(env=upstream_env(fake_upstream)).start()
    task_id = stack.create_video(prompt="a slow one", model="doubao-seedance-1-0-pro-250528")
    upstream_id = wait_for(
        lambda: _detail(stack, task_id)["upstream_task_id"], timeout=30, what="the upstream submission"
    )
    canceled = stack.session.post(stack.url(f"/api/v1/tasks/{task_id}/cancel"), timeout=10).json()["data"]
    assert canceled["status"] == "canceled"
    wait_for(lambda: upstream_id in fake_upstream.state.snapshot()["canceled"], timeout=30, what="the DELETE")
    assert fake_upstream.state.tasks[upstream_id].status == "cancelled"
    assert fake_upstream.state.snapshot()["requests"]["seedance_delete"] == 1
    assert stack.result(task_id)["status"] == "canceled"


@skip_on_ferretdb("atomic single-document updates: two workers' concurrent claims of one task can both succeed")
def test_seedance_videos_spread_over_an_account_pool_and_each_is_polled_by_its_own(
    make_stack, redis_url, fake_upstream
):
    fake_upstream.config.latency = 1.0
    env = fake_upstream.pool_env(2, 1) | {"UPSTREAM_CONCURRENCY": "seedance=2"}
    stack = make_stack(broker_url=redis_url, env=env).start()
    tasks = [stack.create_video(prompt=f"pool video {n}", model="seedance-1.0-lite-t2v", duration=2) for n in range(4)]
    for task_id in tasks:
        assert stack.wait_terminal(task_id)["status"] == "completed"
    state = fake_upstream.state.snapshot()
    assert state["submissions_by_account"] == {"ark-pool-a": 2, "ark-pool-b": 2}
    assert max(state["peak_by_account"].values()) == 1  # each account's own concurrency held
    assert state["foreign_requests"] == 0  # every poll went to the account that made the task
