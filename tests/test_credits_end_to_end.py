"""Credits through the real pipeline: a balance of 50 lets exactly 50 of 200 parallel creates in; with
30 % of generations failing upstream and a worker killed mid-run, the ledger charges exactly the
completed tasks and balance + reservations + charges still add up to the 50 given."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import skip_on_ferretdb, upstream_env
from tests.fakes.upstream import Fault

pytestmark = pytest.mark.stack

FAST = {
    "RECONCILE_INTERVAL_SECONDS": "1",
    "TASK_REQUEUE_AFTER_SECONDS": "3",
    "TASK_LEASE_SECONDS": "6",
    "TASK_RETRY_BACKOFF_SECONDS": "0.5",
}


@skip_on_ferretdb("atomic single-document updates: two workers' concurrent claims of one task can both succeed")
def test_balance_50_admits_50_of_200_and_the_ledger_adds_up_after_failures_and_a_crash(
    make_stack, redis_url, fake_upstream
):
    fake_upstream.config.latency = 1.0
    # 30 % of submits refused for good (moderation): those tasks fail and are not charged.
    fake_upstream.config.faults = [Fault(api="submit", kind="code", code=50412, rate=0.3)]
    # No worker yet: nothing ends (and gives credits back) while the 200 creates compete.
    stack = make_stack(broker_url=redis_url, env=upstream_env(fake_upstream) | FAST).start(worker=False, beat=True)
    created = stack.session.post(stack.url("/api/v1/users"), json={"id": "buyer", "email": "b@example.com"}, timeout=10)
    assert created.status_code == 201, created.text
    put = stack.session.put(stack.url("/api/v1/users/buyer/credits"), json={"balance": 50}, timeout=10)
    assert put.json()["data"] == {"enabled": True, "balance": 50, "reserved": 0}
    time.sleep(1.1)  # every web process sees that credits are in use (each looks at most once a second)

    def create(n):
        return stack.session.post(
            stack.url("/api/v1/ai/image/task"),
            json={"prompt": f"paid {n}", "user_id": "buyer", "model": "jimeng_t2i_v30"},
            timeout=30,
        )

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(create, range(200)))
    accepted = [a.json()["data"]["task_id"] for a in answers if a.status_code == 202]
    refused = [a for a in answers if a.status_code == 402]
    assert len(accepted) == 50 and len(refused) == 150, {a.status_code for a in answers}
    assert refused[0].json()["success"] is False and "Not enough credits" in refused[0].json()["message"]

    stack.start_worker("worker", concurrency=2)

    def count(status: str) -> int:
        page = stack.session.get(stack.url(f"/api/v1/tasks/user/buyer?status={status}"), timeout=10).json()["data"]
        return page["total"]

    deadline = time.monotonic() + 60  # mid-run: some completed, some still generating or being stored
    while (count("completed") < 5 or count("processing") == 0) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert count("processing") > 0
    stack.kill_group("worker")  # mid-run: some tasks done, some submitted, some being stored
    stack.start_worker("worker2", concurrency=2)
    details = [stack.wait_terminal(task_id, timeout=180) for task_id in accepted]
    completed = sum(d["status"] == "completed" for d in details)
    assert completed + sum(d["status"] == "failed" for d in details) == 50
    assert 0 < completed < 50

    deadline = time.monotonic() + 30  # the reconciler settles what the crash left open
    while True:
        usage = stack.session.get(stack.url("/api/v1/users/buyer/usage"), timeout=10).json()["data"]
        if usage["reserved"] == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert usage["charged"] == completed
    assert usage["reserved"] == 0
    assert usage["balance"] + usage["reserved"] + usage["charged"] == 50
