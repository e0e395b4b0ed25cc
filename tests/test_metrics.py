"""`/metrics`: a Prometheus scrape of the web server sees what the worker observed (generation time,
failures by code, retries) beside tasks by status, waiting tasks and the queue depth."""

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import upstream_env
from tests.fakes.upstream import Fault

pytestmark = pytest.mark.stack


def _samples(text: str) -> dict:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_a_scrape_sees_the_workers_observations(make_stack, redis_url, fake_upstream):
    fake_upstream.config.latency = 1.0
    fake_upstream.config.faults = [
        Fault(api="submit", kind="code", code=50413, prompt_contains="forbidden"),
        Fault(api="submit", kind="code", code=50429, times=1, prompt_contains="busy"),
    ]
    env = upstream_env(fake_upstream) | {
        "TASK_RETRY_BACKOFF_SECONDS": "0.2",
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
    }
    stack = make_stack(broker_url=redis_url, env=env).start()
    body = {"model": "jimeng_t2i_v30", "size": "1328x1328"}
    ids = [stack.create_task(prompt=prompt, **body) for prompt in ("a cat", "a busy street", "something forbidden")]
    statuses = [stack.wait_terminal(task_id, timeout=60)["status"] for task_id in ids]
    assert statuses == ["completed", "completed", "failed"]

    response = stack.session.get(stack.url("/metrics"), timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    samples = _samples(response.text)
    jimeng = (("kind", "image"), ("model", "jimeng_t2i_v30"), ("provider", "jimeng"))
    assert samples[("jimeng_upstream_generation_seconds_count", jimeng)] == 2
    assert samples[("jimeng_upstream_generation_seconds_sum", jimeng)] >= 2 * 1.0
    assert samples[("jimeng_task_failures_total", (("code", "50413"), ("kind", "image"), ("provider", "jimeng")))] == 1
    assert samples[("jimeng_task_retries_total", (("code", "50429"), ("kind", "image"), ("provider", "jimeng")))] == 1
    assert samples[("jimeng_tasks", (("kind", "image"), ("status", "completed")))] == 2
    assert samples[("jimeng_tasks", (("kind", "image"), ("status", "failed")))] == 1
    assert samples[("jimeng_tasks", (("kind", "video"), ("status", "completed")))] == 0
    assert samples[("jimeng_tasks_waiting_for_slot", ())] == 0
    assert ("jimeng_queue_depth", ()) in samples
    assert any(name == "django_http_requests_total_by_method_total" for name, _ in samples)


def test_the_metrics_token_when_set(make_stack):
    stack = make_stack(env={"METRICS_TOKEN": "scrape-me"}).start(worker=False)
    assert stack.session.get(stack.url("/metrics"), timeout=10).status_code == 401
    scraped = stack.session.get(stack.url("/metrics"), headers={"Authorization": "Bearer scrape-me"}, timeout=10)
    assert scraped.status_code == 200 and re.search(r"^jimeng_tasks\{", scraped.text, re.M)
