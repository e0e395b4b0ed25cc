"""Every pending task knows its place — also one waiting for a worker, on a fresh server in local mode
(its ETA from the time the provider expects, before any was measured) — and the event stream carries
ids: a client that reconnects with Last-Event-ID sees every status exactly once, and a task's place in
line moving is an event too. Real web server (uvicorn under gunicorn) and worker."""

import json

import pytest
import requests

pytestmark = pytest.mark.stack


def _events(stack, task_id: str, last_event_id: str | None = None, until: str = "end") -> list[tuple[str, str, dict]]:
    """(id, event, data) of each event, until the named event (or the stream's end)."""
    headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last_event_id} if last_event_id else {})}
    seen, current = [], {}
    with requests.Session().get(
        stack.url(f"/api/v1/tasks/{task_id}/events"), headers=headers, stream=True, timeout=60
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith(("id:", "event:", "data:")):
                name, _, value = line.partition(":")
                current[name] = value.strip()
            elif not line and "event" in current:
                seen.append((current.get("id", ""), current["event"], json.loads(current["data"])))
                if current["event"] == until:
                    break
                current = {}
    return seen


def test_pending_tasks_know_their_place_and_a_resumed_stream_misses_nothing(make_stack):
    env = {"UPSTREAM_CONCURRENCY": "local=1", "LOCAL_PROVIDER_LATENCY_SECONDS": "1", "SSE_KEEPALIVE_SECONDS": "0.3"}
    stack = make_stack(env=env).start(worker=False)  # no worker yet: every task waits for one
    ids = [stack.create_task(prompt=f"in line {n}", size="512x512") for n in range(3)]
    places = [stack.result(task_id) for task_id in ids]
    assert [p["queue_position"] for p in places] == [0, 1, 2]
    etas = [p["eta_seconds"] for p in places]
    assert etas[0] == 0 and 0 < etas[1] < etas[2]  # a round of the cap each, at the provider's expected time

    [(first_id, event, data)] = _events(stack, ids[2], until="status")
    assert (first_id, event, data["status"], data["queue_position"]) == ("1.2", "status", "pending", 2)

    stack.start_worker(concurrency=1)  # the tasks in line are taken in their order
    live = _events(stack, ids[2], last_event_id=first_id)  # resumed while it still waits
    ranks = [event_id for event_id, event, _ in live if event == "status"]
    assert ranks[-2:] == ["2", "3"] and ranks.count("2") == 1 and ranks.count("3") == 1, ranks
    assert first_id not in ranks  # nothing seen before is sent again
    positions = [data["queue_position"] for event_id, _, data in live if event_id.startswith("1.")]
    assert positions == sorted(positions, reverse=True) and positions[-1] < 2  # its place moved: events

    stack.wait_terminal(ids[1])  # (a worker may take the tasks in line in another order)
    missed = _events(stack, ids[1], last_event_id="1.1")  # away while it ran and ended
    assert [(event_id, data["status"]) for event_id, event, data in missed if event == "status"] == [
        ("2", "processing"),
        ("3", "completed"),
    ]
    assert [event for _, event, _ in _events(stack, ids[1], last_event_id="3")] == ["end"]
