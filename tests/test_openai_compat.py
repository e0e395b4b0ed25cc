"""The official `openai` client, pointed at the server, generates images through POST
/v1/images/generations with our API keys; a task still running is answered with its id."""

import base64

import openai
import pytest
import requests

pytestmark = pytest.mark.stack


@pytest.fixture
def served(make_stack):
    """A server that requires keys, as in production, and a user key for alice."""
    stack = make_stack(env={"API_AUTH": "required", "LOCAL_PROVIDER_LATENCY_SECONDS": "0.5"}).start()
    service_key = stack.manage("create_api_key", "--service", "--name", "tests").strip().split()[-1]
    return stack, service_key


def _client(stack, key, **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.url("/v1"), api_key=key, max_retries=0, **kwargs)


def test_the_openai_client_gets_an_image_url(served):
    stack, key = served
    answer = _client(stack, key).images.generate(
        prompt="a red lantern", model="dall-e-3", size="1024x1024", user="alice"
    )
    assert len(answer.data) == 1
    image = requests.get(answer.data[0].url, timeout=10)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    tasks = stack.session.get(stack.url("/api/v1/tasks/user/alice"), headers={"Authorization": f"Bearer {key}"})
    assert tasks.json()["data"]["total"] == 1  # a normal task, in alice's history


def test_b64_json(served):
    stack, key = served
    answer = _client(stack, key).images.generate(prompt="a blue kite", response_format="b64_json", size="512x512")
    assert base64.b64decode(answer.data[0].b64_json).startswith(b"\x89PNG")


def test_a_task_still_running_is_answered_with_its_id(make_stack):
    stack = make_stack(
        env={"API_AUTH": "required", "LOCAL_PROVIDER_LATENCY_SECONDS": "30", "OPENAI_WAIT_SECONDS": "1"}
    ).start()
    key = stack.manage("create_api_key", "--service", "--name", "tests").strip().split()[-1]
    answer = _client(stack, key).images.generate(prompt="a very slow painting", size="512x512")
    assert answer.data == []
    task_id = answer.model_extra["task_id"]
    polled = stack.session.get(stack.url(f"/api/v1/ai/image/result/{task_id}"), headers={"X-API-Key": key})
    assert polled.json()["data"]["status"] in {"pending", "processing"}


def test_bad_input_and_bad_keys_raise_the_clients_errors(served):
    stack, key = served
    with pytest.raises(openai.BadRequestError) as bad:
        _client(stack, key).images.generate(prompt="a cat", size="13x13")
    assert "13x13" in bad.value.message or "size" in bad.value.message
    assert bad.value.body["message"]  # our envelope rides along
    with pytest.raises(openai.AuthenticationError):
        _client(stack, "jk_not-a-key").images.generate(prompt="a cat")
