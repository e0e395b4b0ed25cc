"""`/api/v1/ping`: the API stack without the database, behind the same keys as every API call."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from users.keys import api_key_create

pytestmark = pytest.mark.django_db


def test_ping_answers_without_touching_the_database():
    client = APIClient()
    with CaptureQueriesContext(connection) as queries:
        got = client.get("/api/v1/ping")
        posted = client.post("/api/v1/ping", {"prompt": "a cat", "size": "1024x1024"}, format="json")
    assert got.status_code == 200 and got.json()["data"] == {"pong": True}
    assert posted.status_code == 200 and posted.json()["data"] == {"pong": True, "fields": 2}
    assert len(queries) == 0


def test_ping_rejects_a_bad_body_in_the_envelope():
    response = APIClient().post("/api/v1/ping", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["success"] is False


def test_ping_needs_a_key_when_keys_are_required(settings):
    settings.API_KEYS_REQUIRED = True
    client = APIClient()
    assert client.get("/api/v1/ping").status_code == 401
    key = api_key_create(user_id=None, name="probe")[1]
    assert client.get("/api/v1/ping", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
