"""With FAIR_SHARE_BY=key the fair order shares the upstream between API keys, not users: a reseller's
service key acting for 200 users is one tenant, and another key's 3 tasks start within the first rounds
behind it; a key carries its own tier and weight (PUT /api/v1/keys/:prefix/share, service keys and
operators only). With the default (by user), the same 200 tasks are 200 tenants."""

import pytest
from rest_framework.test import APIClient

from imagetasks.models import ImageTask
from tests.create import create_task
from tests.test_fair_share import _rounds
from users.keys import api_key_create
from users.models import ApiKey, User

pytestmark = pytest.mark.django_db


def _submit_as(key: ApiKey, users: list[str]) -> list[str]:
    """One task for each user named, sent with `key` (a service key may act for any user)."""
    from imagetasks import services

    ids = [create_task(user_id=user, prompt=f"{key.pk} {n}", api_key=key.pk).id for n, user in enumerate(users)]
    for task_id in ids:  # the worker's first turn at each: it runs, or parks behind the cap
        services.task_process(task_id=task_id)
    return ids


def _key_of(task_id: str) -> str:
    return ImageTask.objects.filter(pk=task_id).values_list("api_key", flat=True).first()


@pytest.mark.parametrize("share_by", ["key", "user"])
def test_a_service_keys_backlog_for_200_users_is_one_tenant_by_key(
    cap_of_two, sent, django_capture_on_commit_callbacks, share_by
):
    cap_of_two.FAIR_SHARE_BY = share_by
    reseller, _ = api_key_create(user_id=None, name="reseller app")
    other, _ = api_key_create(user_id=None, name="another app")
    _submit_as(reseller, [f"customer{n}" for n in range(200)])
    small = _submit_as(other, ["someone"] * 3)
    started = _rounds(4, sent, django_capture_on_commit_callbacks)
    if share_by == "key":
        assert [_key_of(t) for t in started[:6]] == [other.pk, reseller.pk] * 3
        assert set(small) <= set(started[:5])
    else:  # 201 users: "someone" is one of them, and the 200 customers each had a task in line first
        assert len(set(small) & set(started[:6])) <= 1


def test_a_keys_tier_orders_its_tasks_by_key(cap_of_two, sent, django_capture_on_commit_callbacks):
    cap_of_two.FAIR_SHARE_BY = "key"
    nightly, _ = api_key_create(user_id=None, name="nightly", tier="batch")
    web, _ = api_key_create(user_id=None, name="web")
    vip, _ = api_key_create(user_id=User.objects.create(id="vip").pk, name="vip")
    batch = _submit_as(nightly, [f"n{n}" for n in range(30)])
    normal = _submit_as(web, [f"w{n}" for n in range(40)])
    started = _rounds(10, sent, django_capture_on_commit_callbacks)
    owners = [_key_of(t) for t in started]
    assert owners.count(web.pk) > owners.count(nightly.pk) >= 2  # behind, yet never starved (aging)
    assert set(normal) & set(started) and set(batch) & set(started)

    response = APIClient().put(f"/api/v1/keys/{vip.pk}/share", {"tier": "high"}, format="json")
    assert response.status_code == 200 and response.json()["data"]["tier"] == "high"
    (jump,) = _submit_as(ApiKey.objects.get(pk=vip.pk), ["vip"])
    assert _rounds(1, sent, django_capture_on_commit_callbacks)[0] == jump  # the next free slot is the high key's


def test_a_create_records_the_key_that_sent_it(settings):
    settings.API_AUTH = "required"
    settings.OPENAI_WAIT_SECONDS = 0  # answered at once, with the task's id
    key, secret = api_key_create(user_id=User.objects.create(id="alice").pk)
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {secret}")
    native = client.post("/api/v1/ai/image/task", {"prompt": "a cat", "user_id": "alice"}, format="json")
    openai = client.post("/v1/images/generations", {"prompt": "a dog"}, format="json")
    assert (native.status_code, openai.status_code) == (202, 202), (native.content, openai.content)
    task_ids = [native.json()["data"]["task_id"], openai.json()["task_id"]]
    assert [_key_of(t) for t in task_ids] == [key.pk, key.pk]
    keyless = create_task(user_id="alice", prompt="from the admin's machine")
    assert keyless.api_key == ""


@pytest.mark.parametrize(
    ("who", "body", "status", "named"),
    [
        ("user", {"tier": "high"}, 403, "Only service keys"),
        ("service", {}, 400, "at least one of: tier, weight"),
        ("service", {"weight": 101}, 400, "weight"),
        ("service", {"tier": "high", "priority": 9}, 400, "priority"),
    ],
)
def test_a_keys_share_is_set_only_by_service_keys_and_within_bounds(settings, who, body, status, named):
    settings.API_AUTH = "required"
    target, own = api_key_create(user_id=User.objects.create(id="alice").pk)
    _, service = api_key_create(user_id=None, name="backend")
    secret = own if who == "user" else service
    response = APIClient().put(
        f"/api/v1/keys/{target.pk}/share", body, format="json", HTTP_AUTHORIZATION=f"Bearer {secret}"
    )
    assert response.status_code == status and response.json()["success"] is False
    assert named in response.json()["message"]
    assert ApiKey.objects.filter(pk=target.pk).values_list("tier", "weight").first() == ("normal", 1)
    missing = APIClient().put(
        "/api/v1/keys/nosuchkey/share", {"tier": "high"}, format="json", HTTP_AUTHORIZATION=f"Bearer {service}"
    )
    assert missing.status_code == 404 and missing.json()["success"] is False


def test_an_operator_sets_a_keys_share_in_the_admin_and_nothing_else_of_it(client):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "a-long-password-1"))
    key, _ = api_key_create(user_id=None, name="reseller app")
    page = f"/admin/users/apikey/{key.pk}/change/"
    assert client.get(page).status_code == 200
    changed = client.post(page, {"tier": "batch", "weight": "3", "name": "renamed", "user": ""})
    assert changed.status_code == 302, changed.content.decode()[:2000]
    assert ApiKey.objects.filter(pk=key.pk).values_list("tier", "weight", "name").first() == (
        "batch",
        3,
        "reseller app",
    )
    refused = client.post(page, {"tier": "batch", "weight": "101"})
    assert refused.status_code == 200 and ApiKey.objects.get(pk=key.pk).weight == 3  # the form says why
