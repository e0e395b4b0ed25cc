"""With keys and host pointing at the fake, the seed workflow completes for every model in the catalog,
through real web and worker processes; a wrong secret key ends the task `failed` with an auth message."""

import io

import pytest
from PIL import Image

from imagetasks.kinds import catalog
from tests.conftest import skip_on_ferretdb, upstream_env

pytestmark = pytest.mark.stack


def _body(spec):
    body = {
        "prompt": f"一只可爱的小猫咪 ({spec.id})",
        "model": spec.id,
        "size": f"{spec.default_size[0]}x{spec.default_size[1]}",
    }
    if spec.min_reference_images:
        body["image_urls"] = ["https://example.com/cat.png"]
    return body


def test_every_catalog_model_completes_against_the_fake(make_stack, redis_url, fake_upstream):
    stack = make_stack(broker_url=redis_url, env=upstream_env(fake_upstream)).start(io_worker=True)
    health = stack.session.get(stack.url("/health"), timeout=10).json()["data"]
    upstreams = {spec.provider for spec in catalog()}
    assert health["providers"] == dict.fromkeys(sorted(upstreams), "live")
    assert health["local_mode"] is False

    image_models = [spec for spec in catalog() if spec.kind == "image"]  # videos: test_video_end_to_end.py
    tasks = {spec.id: stack.create_task(**_body(spec)) for spec in image_models}
    for spec in image_models:
        data = stack.wait_terminal(tasks[spec.id])
        assert data["status"] == "completed", (spec.id, data)
        assert data["provider"] == spec.provider
        images = data["result"]["images"]
        assert len(images) == (2 if spec.id in {"jimeng_t2i_v40", "jimeng_seedream46_cvtob"} else 1), spec.id
        for image in images:
            assert image["url"].startswith(stack.base_url + "/media/images/")  # ours, not the upstream's
            assert image["source_url"].startswith(fake_upstream.url + "/images/")
            picture = Image.open(io.BytesIO(stack.session.get(image["url"], timeout=10).content))
            assert picture.size == spec.default_size
        detail = stack.session.get(stack.url(f"/api/v1/tasks/{tasks[spec.id]}"), timeout=10).json()["data"]
        if spec.provider == "jimeng":
            assert detail["upstream_task_id"].isdigit()

    state = fake_upstream.state.snapshot()
    assert state["signature_failures"] == 0
    assert state["total_submissions"] == len(image_models)  # each generation submitted exactly once


def test_wrong_secret_key_fails_the_task_with_an_auth_message(make_stack, fake_upstream):
    env = upstream_env(fake_upstream) | {"VOLCENGINE_SECRET_KEY": "wrong-secret"}
    stack = make_stack(env=env).start()
    task_id = stack.create_task(prompt="a cat", model="jimeng_t2i_v30", size="1328x1328")
    data = stack.wait_terminal(task_id)
    assert data["status"] == "failed"
    assert data["message"].startswith("Volcengine rejected the request signature or access key (SignatureDoesNotMatch)")
    assert data["error"]["code"] == "SignatureDoesNotMatch"
    assert fake_upstream.state.signature_failures == 1
    assert fake_upstream.state.snapshot()["total_submissions"] == 0


@skip_on_ferretdb("atomic single-document updates: two concurrent claims of one task can both succeed")
def test_moderation_fails_at_once_and_throttling_is_retried(make_stack, fake_upstream):
    from tests.fakes.upstream import Fault

    fake_upstream.config.faults = [
        Fault(api="submit", kind="code", code=50413, prompt_contains="forbidden"),
        Fault(api="submit", kind="code", code=50429, prompt_contains="busy", times=2),
    ]
    stack = make_stack(env=upstream_env(fake_upstream) | {"TASK_RETRY_BACKOFF_SECONDS": "0.2"}).start()
    rejected = stack.create_task(prompt="forbidden words", model="jimeng_t2i_v30", size="1328x1328")
    throttled = stack.create_task(prompt="busy hour", model="jimeng_t2i_v30", size="1328x1328")
    data = stack.wait_terminal(rejected)
    assert (data["status"], data["message"]) == (
        "failed",
        "prompt rejected by content moderation (sensitive or copyrighted words) (50413)",
    )
    detail = stack.session.get(stack.url(f"/api/v1/tasks/{rejected}"), timeout=10).json()["data"]
    assert detail["attempts"] == 1
    assert stack.wait_terminal(throttled)["status"] == "completed"
    detail = stack.session.get(stack.url(f"/api/v1/tasks/{throttled}"), timeout=10).json()["data"]
    assert detail["attempts"] == 3
    assert fake_upstream.state.snapshot()["submissions"] == {"busy hour": 1}


def test_cancel_while_generating_tells_jimeng_and_discards_the_result(make_stack, fake_upstream):
    fake_upstream.config.latency = 30
    stack = make_stack(env=upstream_env(fake_upstream)).start()
    task_id = stack.create_task(prompt="a slow one", model="jimeng_t2i_v30", size="1328x1328")
    from tests.stack import wait_for

    upstream_id = wait_for(
        lambda: stack.session.get(stack.url(f"/api/v1/tasks/{task_id}"), timeout=10).json()["data"]["upstream_task_id"],
        timeout=30,
        what="the upstream submission",
    )
    canceled = stack.session.post(stack.url(f"/api/v1/tasks/{task_id}/cancel"), timeout=10).json()["data"]
    assert canceled["status"] == "canceled"
    wait_for(lambda: upstream_id in fake_upstream.state.snapshot()["canceled"], timeout=30, what="CVCancelTask")
    assert stack.result(task_id)["status"] == "canceled"
