"""An upstream answer that is not what it promised ends in a clear status, quickly, without holding a
worker that generates: a video URL serving HTML fails the task at once (one download, no re-polling
until the deadline); a video that trickles is tried OUTPUT_STORE_TRIES times and then fails; the
downloads run on the I/O worker, so another user's image completes meanwhile; a passing outage of the
file host is waited out (five refusals in a row, by default); and a failed output never teaches the
cadence when generations end. Real web, workers and Redis, against the fake."""

import time

import pytest
import redis

from tests.conftest import upstream_env
from tests.fakes.upstream import Fault

pytestmark = pytest.mark.stack

LEARNED = ":1:jimeng:generation-end:jimeng:{}"  # the cadence's key in Django's Redis cache


def test_an_html_page_instead_of_an_mp4_fails_the_task_at_once(make_stack, redis_url, fake_upstream):
    fake_upstream.state.config.faults = [Fault(api="download", kind="html", prompt_contains="behind a login page")]
    stack = make_stack(broker_url=redis_url, env=upstream_env(fake_upstream)).start()
    started = time.monotonic()
    task_id = stack.create_video(prompt="a cat behind a login page", model="jimeng_t2v_v30")
    data = stack.wait_terminal(task_id, timeout=30)
    assert data["status"] == "failed" and data["error"]["code"] == "bad_output", data
    assert "not an MP4" in data["message"]
    assert time.monotonic() - started < 10
    seen = fake_upstream.state.snapshot()["requests"]
    assert seen["download_video"] == 1, seen  # looked at once: the same URL serves the same page
    time.sleep(1.5)  # nothing goes on looking
    after = fake_upstream.state.snapshot()["requests"]
    assert after.get("CVSync2AsyncGetResult") == seen.get("CVSync2AsyncGetResult") and after["download_video"] == 1
    assert redis.Redis.from_url(redis_url).get(LEARNED.format("jimeng_t2v_v30")) is None  # not learned from


def test_a_trickling_video_is_tried_a_bounded_number_of_times_while_others_are_served(
    make_stack, redis_url, fake_upstream
):
    fake_upstream.state.config.faults = [Fault(api="download", kind="slow", delay=30, prompt_contains="trickle")]
    env = upstream_env(fake_upstream) | {
        "VIDEO_DOWNLOAD_TIMEOUT_SECONDS": "2",
        "OUTPUT_STORE_TRIES": "2",
        "TASK_RETRY_BACKOFF_SECONDS": "0.5",
    }
    stack = make_stack(broker_url=redis_url, env=env).start()
    slow = stack.create_video(prompt="a trickle of a cat", model="jimeng_t2v_v30")
    time.sleep(1.0)  # its first download has begun
    other = stack.create_task(prompt="someone else's cat", model="jimeng_t2i_v30", user_id="someone_else")
    assert stack.wait_terminal(other, timeout=10)["status"] == "completed"
    assert stack.result(slow)["status"] == "processing"  # still downloading: on the I/O worker
    data = stack.wait_terminal(slow, timeout=30)
    assert data["status"] == "failed" and data["error"]["code"] == "download_failed", data
    assert "gave up after 2 tries" in data["message"]
    assert fake_upstream.state.snapshot()["requests"]["download_video"] == 2
    learned = redis.Redis.from_url(redis_url)
    assert learned.get(LEARNED.format("jimeng_t2i_v30")) is not None  # the image's generation taught it
    assert learned.get(LEARNED.format("jimeng_t2v_v30")) is None


def test_a_download_refused_five_times_in_a_row_still_completes_by_default(make_stack, redis_url, fake_upstream):
    """The generation is paid for and its URL lives for hours: a passing outage of the file host is
    waited out (three tries gave up here)."""
    fake_upstream.state.config.faults = [
        Fault(api="download", kind="code", code=503, times=5, prompt_contains="flaky file host")
    ]
    env = upstream_env(fake_upstream) | {"TASK_RETRY_BACKOFF_SECONDS": "0.1", "TASK_RETRY_BACKOFF_MAX_SECONDS": "0.5"}
    stack = make_stack(broker_url=redis_url, env=env).start()
    task_id = stack.create_task(prompt="a lighthouse on a flaky file host", model="jimeng_t2i_v30")
    data = stack.wait_terminal(task_id, timeout=30)
    assert data["status"] == "completed", data
    seen = fake_upstream.state.snapshot()
    assert seen["requests"]["download_image"] == 6, seen["requests"]  # five refused, the sixth taken
    assert seen["total_submissions"] == 1  # stored, never generated again
