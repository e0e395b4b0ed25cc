"""An operator logs into the admin, finds a failed task and retries it; it completes."""

import re

import pytest
import requests

pytestmark = pytest.mark.stack


def _csrf(session: requests.Session, html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


def _login(stack) -> requests.Session:
    stack.manage(
        "createsuperuser",
        "--noinput",
        "--username",
        "operator",
        "--email",
        "ops@example.com",
        extra_env={"DJANGO_SUPERUSER_PASSWORD": "correct horse battery staple"},
    )
    session = requests.Session()
    page = session.get(stack.url("/admin/login/"), timeout=10)
    response = session.post(
        stack.url("/admin/login/?next=/admin/"),
        data={
            "username": "operator",
            "password": "correct horse battery staple",
            "csrfmiddlewaretoken": _csrf(session, page.text),
            "next": "/admin/",
        },
        headers={"Referer": stack.url("/admin/login/")},
        timeout=10,
    )
    assert response.status_code == 200 and "Log out" in response.text, response.text[:2000]
    return session


def test_operator_retries_a_failed_task_and_it_completes(make_stack):
    stack = make_stack(env={"LOCAL_PROVIDER_FAILURE_RATE": "1"}).start()
    task_id = stack.create_task(prompt="a lighthouse at dusk", external_task_id="order-77")
    failed = stack.wait_terminal(task_id)
    assert failed["status"] == "failed"

    # The operator fixes the upstream: the worker restarts without the injected failures.
    stack.kill_group("worker")
    stack.stop_process("worker")
    stack.start_worker(extra_env={"LOCAL_PROVIDER_FAILURE_RATE": "0"})

    admin = _login(stack)
    changelist = stack.url("/admin/imagetasks/imagetask/")
    listing = admin.get(changelist, params={"status__exact": "failed"}, timeout=10)
    assert listing.status_code == 200
    assert task_id in listing.text
    for query in (task_id, "order-77", "lighthouse"):
        assert task_id in admin.get(changelist, params={"q": query}, timeout=10).text, query

    detail = admin.get(f"{changelist}{task_id}/change/", timeout=10)
    assert "simulated failure of the local provider" in detail.text

    response = admin.post(
        changelist + "?status__exact=failed",
        data={
            "action": "retry_tasks",
            "_selected_action": [task_id],
            "index": "0",
            "csrfmiddlewaretoken": _csrf(admin, listing.text),
        },
        headers={"Referer": changelist},
        timeout=10,
    )
    assert response.status_code == 200
    assert "Retried 1 task(s)." in response.text

    done = stack.wait_terminal(task_id)
    assert done["status"] == "completed", done
    detail = admin.get(f"{changelist}{task_id}/change/", timeout=10)
    assert f"/media/images/{task_id}/" in detail.text  # the image is shown in the detail view
    assert admin.get(stack.url(f"/media/images/{task_id}/2-0.png"), timeout=10).status_code == 200


def test_admin_requires_staff_login(make_stack):
    stack = make_stack().start(worker=False)
    response = requests.get(stack.url("/admin/imagetasks/imagetask/"), timeout=10, allow_redirects=False)
    assert response.status_code == 302
    assert "/admin/login/" in response.headers["Location"]
