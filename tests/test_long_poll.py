"""`Prefer: wait=N` on the result endpoints answers as soon as the task ends; the SSE stream sends
each status change and closes at the end. Real processes: gunicorn, a worker, Redis or not."""

import json
import time
from datetime import datetime

import pytest
import requests

pytestmark = pytest.mark.stack


def _at(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("broker", ["redis", "filesystem"])
def test_long_poll_answers_within_200ms_of_completion(broker, make_stack, request):
    broker_url = request.getfixturevalue("redis_url") if broker == "redis" else "filesystem://"
    stack = make_stack(broker_url=broker_url, env={"LOCAL_PROVIDER_LATENCY_SECONDS": "2"}).start()
    task_id = stack.create_task(prompt="a slow cat", size="512x512")
    asked = time.monotonic()
    response = stack.session.get(
        stack.url(f"/api/v1/ai/image/result/{task_id}"), headers={"Prefer": "wait=30"}, timeout=40
    )
    answered = time.time()
    assert response.status_code == 200
    assert response.headers["Preference-Applied"] == "wait=30"
    assert response.json()["data"]["status"] == "completed"
    assert time.monotonic() - asked > 1  # it did wait for the generation
    detail = stack.session.get(stack.url(f"/api/v1/tasks/{task_id}"), timeout=10).json()["data"]
    assert answered - _at(detail["finished_at"]) < 0.2


def test_long_poll_gives_up_after_n_seconds_with_the_task_as_it_is(make_stack):
    stack = make_stack(env={"LOCAL_PROVIDER_LATENCY_SECONDS": "60"}).start()
    task_id = stack.create_task(prompt="a very slow cat", size="512x512")
    started = time.monotonic()
    response = stack.session.get(stack.url(f"/api/v1/tasks/{task_id}"), headers={"Prefer": "wait=1"}, timeout=10)
    assert 0.8 <= time.monotonic() - started < 3  # within N, after 0.8 N at the earliest
    assert response.json()["data"]["status"] in {"pending", "processing"}


def test_sse_streams_each_status_change_then_closes(make_stack, redis_url):
    stack = make_stack(broker_url=redis_url, env={"LOCAL_PROVIDER_LATENCY_SECONDS": "1.5"}).start(worker=False)
    task_id = stack.create_task(prompt="a streamed cat", size="512x512")
    events = []
    with requests.get(
        stack.url(f"/api/v1/tasks/{task_id}/events"), headers={"Accept": "text/event-stream"}, stream=True, timeout=30
    ) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        lines = response.iter_lines(decode_unicode=True)
        for line in lines:
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
                data = json.loads(next(lines).split(":", 1)[1])
                events.append((name, data.get("status")))
                if name == "status" and data["status"] == "pending" and len(events) == 1:
                    stack.start_worker()  # the worker comes after the stream opened: we see it all
    assert events == [("status", "pending"), ("status", "processing"), ("status", "completed"), ("end", None)]


def test_unknown_task_is_a_404_envelope_for_both(make_stack):
    stack = make_stack().start(worker=False)
    waited = stack.session.get(stack.url("/api/v1/tasks/nope"), headers={"Prefer": "wait=5"}, timeout=10)
    streamed = stack.session.get(
        stack.url("/api/v1/tasks/nope/events"), headers={"Accept": "text/event-stream"}, timeout=10
    )
    for response in (waited, streamed):
        assert response.status_code == 404
        assert response.json() == {"success": False, "message": "Task 'nope' not found."}
