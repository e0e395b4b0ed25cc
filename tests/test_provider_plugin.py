"""A provider is one module: one from the test tree, named in PROVIDER_MODULES and nowhere else, runs
a task end to end through the real worker; its models are in the catalog."""

import pytest

from imagetasks import kinds
from providers import registry


@pytest.mark.stack
def test_a_provider_from_the_test_tree_runs_a_task_end_to_end(make_stack, settings):
    modules = ",".join([*settings.PROVIDER_MODULES, "tests.fakes.echo_provider"])
    stack = make_stack(env={"PROVIDER_MODULES": modules}).start()
    models = stack.session.get(stack.url("/api/v1/ai/models"), timeout=10).json()["data"]["models"]
    echo = next(model for model in models if model["id"] == "echo-v1")
    assert (echo["provider"], echo["runs_on"]) == ("echo", "echo")
    task_id = stack.create_task(prompt="hello", model="echo", size="32x32")
    result = stack.wait_terminal(task_id, timeout=30)
    assert result["status"] == "completed", result
    assert result["provider"] == "echo"
    image = result["result"]["images"][0]
    assert (image["width"], image["height"], image["content_type"]) == (32, 32, "image/png")
    png = stack.session.get(image["url"], timeout=10)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_the_catalog_is_what_the_listed_modules_declare(settings):
    settings.PROVIDER_MODULES = ["tests.fakes.echo_provider"]
    assert registry.provider_names() == ["local", "echo"]
    assert kinds.model_names() == ["echo-v1"]
    assert kinds.model_resolve("ECHO").id == "echo-v1"
