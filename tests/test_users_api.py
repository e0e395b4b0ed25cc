"""The seed's users endpoints: create, read, look up by email, update, delete."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from imagetasks.models import ImageTask
from tests.create import create_task
from users.models import User
from users.services import user_delete

pytestmark = pytest.mark.django_db
USERS = "/api/v1/users"


@pytest.fixture
def client():
    return APIClient()


def test_create_get_update_delete(client):
    created = client.post(USERS, {"email": "User@Example.COM", "name": "张三"}, format="json")
    assert created.status_code == 201
    user = created.json()["data"]
    assert user["email"] == "user@example.com"  # kept lower-case: one address, one user
    assert user["name"] == "张三"
    assert len(user["id"]) == 26

    fetched = client.get(f"{USERS}/{user['id']}").json()
    assert fetched == {"success": True, "data": user}

    by_email = client.get(f"{USERS}?email=user@example.com").json()["data"]
    assert by_email["id"] == user["id"]

    updated = client.put(f"{USERS}/{user['id']}", {"name": "李四"}, format="json").json()["data"]
    assert updated["name"] == "李四"
    assert updated["email"] == "user@example.com"

    deleted = client.delete(f"{USERS}/{user['id']}")
    assert deleted.json() == {"success": True, "data": {"id": user["id"], "deleted": True}}
    assert client.get(f"{USERS}/{user['id']}").status_code == 404


def test_client_chosen_id(client):
    created = client.post(USERS, {"id": "user_123", "email": "a@example.com"}, format="json").json()["data"]
    assert created["id"] == "user_123"


def test_duplicate_email_and_id_conflict(client):
    client.post(USERS, {"id": "u1", "email": "a@example.com"}, format="json")
    same_email = client.post(USERS, {"email": "A@EXAMPLE.com"}, format="json")
    assert same_email.status_code == 409
    assert same_email.json()["message"] == "A user with email 'a@example.com' already exists."
    same_id = client.post(USERS, {"id": "u1", "email": "b@example.com"}, format="json")
    assert same_id.status_code == 409
    assert same_id.json()["message"] == "A user with id 'u1' already exists."


def test_update_to_taken_email_conflicts(client):
    client.post(USERS, {"id": "u1", "email": "a@example.com"}, format="json")
    client.post(USERS, {"id": "u2", "email": "b@example.com"}, format="json")
    response = client.put(f"{USERS}/u2", {"email": "a@example.com"}, format="json")
    assert response.status_code == 409
    assert client.get(f"{USERS}/u2").json()["data"]["email"] == "b@example.com"


def test_unknown_user_id_on_a_task_creates_that_user(client):
    create_task(user_id="user_123", prompt="a cat")
    user = client.get(f"{USERS}/user_123").json()["data"]
    assert user == {**user, "id": "user_123", "email": None, "name": ""}
    # The implicit user can be given an email later, and later tasks keep belonging to them.
    client.put(f"{USERS}/user_123", {"email": "cat@example.com", "name": "Cat"}, format="json")
    assert client.get(f"{USERS}?email=cat@example.com").json()["data"]["id"] == "user_123"


@pytest.mark.django_db(transaction=True)  # autocommit, as a request runs
def test_a_known_users_task_is_one_statement_and_a_vanished_user_is_made_again():
    first = create_task(user_id="n1", prompt="x")
    with CaptureQueriesContext(connection) as queries:
        create_task(user_id="n1", prompt="y")
    # Where the database checks the foreign key, the INSERT is the check; elsewhere a lookup first.
    user_reads = [query["sql"] for query in queries.captured_queries if "users_user" in query["sql"]]
    assert len(user_reads) == (0 if connection.features.supports_foreign_keys else 1), user_reads
    user_delete(user_id="n1")  # their tasks go with them
    assert not ImageTask.objects.filter(pk=first.pk).exists()
    again = create_task(user_id="n1", prompt="z")  # the INSERT is refused: the user is made, then it
    assert User.objects.filter(pk="n1").exists()
    assert list(ImageTask.objects.filter(user_id="n1").values_list("id", flat=True)) == [again.id]


def test_several_users_without_email(client):
    create_task(user_id="a1", prompt="x")
    create_task(user_id="a2", prompt="y")  # no unique clash between two missing emails


def test_deleting_a_user_deletes_their_tasks(client):
    create_task(user_id="u9", prompt="x")
    assert ImageTask.objects.filter(user_id="u9").count() == 1
    client.delete(f"{USERS}/u9")
    assert ImageTask.objects.filter(user_id="u9").count() == 0
