"""A kind defined only in the test tree ("upscale": one reference image in, one image out) runs end to
end — the generic create, the real worker, the local provider, the stored PNG — through settings alone:
no module outside tests/ names it."""

import subprocess
from pathlib import Path

import pytest

from tests.stack import ROOT

pytestmark = pytest.mark.stack
KINDS = "imagetasks.kinds.image,imagetasks.kinds.video,tests.fakes.upscale_kind"


def test_a_kind_in_the_test_tree_runs_end_to_end(make_stack):
    stack = make_stack(env={"KIND_MODULES": KINDS}).start()
    body = {
        "type": "upscale",
        "prompt": "the same cat, sharper",
        "user_id": "u1",
        "image_urls": ["https://example.com/cat.png"],
        "factor": 4,
    }
    created = stack.session.post(stack.url("/api/v1/ai/tasks"), json=body, timeout=10)
    assert created.status_code == 202, created.text
    assert created.json()["data"]["model"] == "local-upscale"
    data = stack.wait_terminal(created.json()["data"]["task_id"])
    assert data["status"] == "completed" and data["type"] == "upscale", data
    image = data["result"]["images"][0]
    assert image["width"] == 2048
    png = stack.session.get(image["url"], timeout=10)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")

    models = stack.session.get(stack.url("/api/v1/ai/models"), timeout=10).json()["data"]
    assert {"id": "local-upscale", "type": "upscale"}.items() <= next(
        m for m in models["models"] if m["id"] == "local-upscale"
    ).items()
    refused = stack.session.post(stack.url("/api/v1/ai/tasks"), json={**body, "size": "1024x1024"}, timeout=10)
    assert refused.json()["message"] == "size: a field of image tasks; this is an upscale task."
    missing = stack.session.post(stack.url("/api/v1/ai/tasks"), json={**body, "image_urls": []}, timeout=10)
    assert missing.json()["message"] == "local-upscale needs at least 1 reference image(s) in image_urls."
    listed = stack.session.get(stack.url("/api/v1/tasks/user/u1?type=upscale"), timeout=10).json()["data"]
    assert listed["total"] == 1


def test_no_product_module_compares_kinds():
    """What differs between kinds lives with the kind: nowhere else is a kind compared by name."""
    found = subprocess.run(
        ["grep", "-rnE", r"""(kind|type)\s*(==|!=|in)\s*\(?["'](image|video)|Kind\.(IMAGE|VIDEO)""",
         "jimeng_server", "users", "imagetasks", "providers", "--include=*.py"],
        cwd=ROOT, capture_output=True, text=True,
    ).stdout  # fmt: skip
    offending = [line for line in found.splitlines() if not line.startswith("imagetasks/kinds/")]
    assert offending == [], offending
    assert Path(ROOT / "imagetasks" / "kinds").is_dir()
