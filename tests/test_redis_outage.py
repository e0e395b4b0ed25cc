"""Redis stopped under a production-like server (API keys, Redis broker): no answer is a 500,
`/health` says Redis is broken, reads keep answering, creates are accepted into the database and
dispatched when Redis returns."""

import pytest

from tests.stack import RedisServer, wait_for


@pytest.mark.stack
def test_with_redis_stopped_nothing_answers_500_and_every_accepted_task_completes(make_stack, tmp_path):
    server = RedisServer(tmp_path).start()
    stack = make_stack(
        broker_url=server.url,
        env={
            "API_AUTH": "required",
            "RECONCILE_INTERVAL_SECONDS": "1",
            "TASK_REQUEUE_AFTER_SECONDS": "3",
        },
    )
    try:
        stack.start(beat=True)
        key = stack.manage("create_api_key", "--service", "--name", "tests").strip().split()[-1]
        stack.session.headers["Authorization"] = f"Bearer {key}"
        before = stack.create_task(prompt="before the outage")
        stack.wait_terminal(before, timeout=30)

        server.stop()
        health = stack.session.get(stack.url("/health"), timeout=10)
        assert health.status_code == 503, health.text
        assert health.json()["success"] is False
        assert health.json()["data"]["redis"] == {"status": "unreachable"}
        assert health.json()["message"] == "redis unreachable"

        answers = []
        created = []
        for n in range(5):
            response = stack.session.post(
                stack.url("/api/v1/ai/image/task"), json={"prompt": f"during {n}", "user_id": "u1"}, timeout=15
            )
            answers.append(response.status_code)
            if response.status_code == 202:
                created.append(response.json()["data"]["task_id"])
        for path in (f"/api/v1/ai/image/result/{before}", f"/api/v1/tasks/{before}", "/api/v1/tasks/user/user_123"):
            answers.append(stack.session.get(stack.url(path), timeout=15).status_code)
        assert all(code < 500 for code in answers), answers
        assert answers[:5] == [202] * 5  # accepted into the database, sent on when Redis is back
        assert answers[5:] == [200, 200, 200]

        server.start()
        wait_for(
            lambda: stack.session.get(stack.url("/health"), timeout=5).status_code == 200, timeout=20, what="health"
        )
        results = [stack.wait_terminal(task_id, timeout=60) for task_id in created]
        assert [r["status"] for r in results] == ["completed"] * 5
    finally:
        stack.stop()
        server.stop()
