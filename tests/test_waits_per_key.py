"""One API key cannot hold a web process's connections: at most WAITS_PER_KEY long-polls and event
streams are open for it at once (one more answers 429 with Retry-After), while another key is served
as before, and a closed wait frees its place. (550 streams of one key were once all accepted.)"""

import time

import pytest
import requests

pytestmark = pytest.mark.stack


def test_open_waits_are_bounded_per_key(make_stack):
    stack = make_stack(env={"API_AUTH": "required", "WAITS_PER_KEY": "3", "LOCAL_PROVIDER_LATENCY_SECONDS": "60"})
    stack.start(worker=False)  # tasks stay pending: every wait lasts
    greedy = stack.manage("create_api_key", "--service", "--name", "greedy").strip().split()[-1]
    other = stack.manage("create_api_key", "--service", "--name", "other").strip().split()[-1]

    def create(key: str) -> str:
        answer = requests.post(
            stack.url("/api/v1/ai/image/task"),
            json={"prompt": "a waiting cat", "user_id": "u1"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert answer.status_code == 202, answer.text
        return answer.json()["data"]["task_id"]

    sessions = []

    def stream(key: str, task_id: str) -> requests.Response:
        # A session of its own, kept open: `requests.get` closes its connection as it returns.
        sessions.append(requests.Session())
        return sessions[-1].get(
            stack.url(f"/api/v1/tasks/{task_id}/events"),
            headers={"Authorization": f"Bearer {key}", "Accept": "text/event-stream"},
            stream=True,
            timeout=10,
        )

    task_id = create(greedy)
    streams = [stream(greedy, task_id) for _ in range(3)]
    assert [s.status_code for s in streams] == [200, 200, 200]
    readers = [opened.iter_lines() for opened in streams]  # kept: a dropped reader closes its connection
    for lines in readers:  # each has sent its first event: it is waiting now
        assert next(lines).startswith(b"id: ")  # every event carries its id first
        assert next(lines).startswith(b"event: status")
    refused = stream(greedy, task_id)
    assert refused.status_code == 429, (refused.status_code, refused.raw.read(300))
    assert refused.headers["Retry-After"] == "1"
    assert "long-polls or event streams open" in refused.json()["message"]
    poll = requests.get(
        stack.url(f"/api/v1/tasks/{task_id}"),
        headers={"Authorization": f"Bearer {greedy}", "Prefer": "wait=5"},
        timeout=10,
    )
    assert poll.status_code == 429  # a long-poll counts as a wait too
    assert (
        requests.get(  # without waiting, the same key is served
            stack.url(f"/api/v1/tasks/{task_id}"), headers={"Authorization": f"Bearer {greedy}"}, timeout=10
        ).status_code
        == 200
    )
    theirs = stream(other, create(other))
    assert theirs.status_code == 200  # another key is not affected
    theirs.close()

    streams.pop().close()  # a closed stream frees its place (the server sees the client go)
    deadline = time.monotonic() + 10
    while (again := stream(greedy, task_id)).status_code == 429 and time.monotonic() < deadline:
        again.close()
        time.sleep(0.2)
    assert again.status_code == 200
    for opened in [*streams, again]:
        opened.close()
