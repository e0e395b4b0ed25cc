"""The admin links tasks, users and webhook deliveries to each other."""

import pytest
from django.contrib.auth import get_user_model

from imagetasks.models import WebhookDelivery
from tests.conftest import skip_on_ferretdb
from tests.create import create_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):
    client.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "a-long-password-1"))
    return client


@skip_on_ferretdb("$lookup: the task list joins each task's user (list_select_related)")
def test_users_tasks_and_deliveries_link_to_each_other(operator):
    task = create_task(user_id="alice", prompt="a cat")
    WebhookDelivery.objects.create(task=task, event="task.completed", url="https://hooks.example.com/x", payload={})

    users = operator.get("/admin/users/user/").content.decode()
    assert "/admin/imagetasks/imagetask/?user__id__exact=alice" in users

    tasks = operator.get("/admin/imagetasks/imagetask/?user__id__exact=alice").content.decode()
    assert f"/admin/imagetasks/imagetask/{task.id}/change/" in tasks
    assert '<a href="/admin/users/user/alice/change/">alice</a>' in tasks

    deliveries = operator.get("/admin/imagetasks/webhookdelivery/").content.decode()
    assert f'<a href="/admin/imagetasks/imagetask/{task.id}/change/">{task.id}</a>' in deliveries


@skip_on_ferretdb("$lookup: the task list joins each task's user (list_select_related)")
def test_the_task_list_says_what_each_column_holds(operator):
    import re

    create_task(
        user_id="alice",
        prompt="一只可爱的小猫咪在花园里玩耍，阳光明媚，花朵盛开，蝴蝶飞舞，远处有一座小山和一条小河流过",
    )
    page = operator.get("/admin/imagetasks/imagetask/").content.decode()
    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', page)
    assert headers == ["thumbnail", "short_prompt", "status", "user_link", "model", "age"]
    titles = [re.sub(r"<[^>]+>", "", t).strip() for t in re.findall(r'<div class="text">(.*?)</div>', page)]
    titles = [title for title in titles if title]  # (the first column holds the action checkboxes)
    assert titles == ["Image / video", "Prompt", "Status", "User", "Model", "Age"]
    assert "一只可爱的小猫咪在花园里玩耍" in page and "…" in page  # a long prompt is shortened
